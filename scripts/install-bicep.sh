#!/usr/bin/env bash
# Installs the Bicep CLI into .tools/bicep/ from the NuGet package Azure.Bicep.CommandLine.linux-x64, through
# the .NET SDK, with project-local caches only (no global tool, no ~/.nuget state). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .tools/bicep/bicep ] && .tools/bicep/bicep --version >/dev/null 2>&1; then
  echo "bicep: $(.tools/bicep/bicep --version)"
  exit 0
fi
if ! command -v dotnet >/dev/null 2>&1; then
  echo "bicep: the .NET SDK (dotnet) is not installed; cannot restore the Bicep CLI" >&2
  exit 1
fi
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
export DOTNET_CLI_HOME="$PWD/.tools/dotnet-home" NUGET_PACKAGES="$PWD/.tools/nuget"
dotnet restore scripts/bicep/bicep-cli.csproj --packages "$NUGET_PACKAGES" -p:BaseIntermediateOutputPath="$PWD/.tools/obj/" --verbosity quiet
binary=$(find "$NUGET_PACKAGES/azure.bicep.commandline.linux-x64" -type f -name bicep | head -n 1)
if [ -z "$binary" ]; then
  echo "bicep: the package was restored but holds no bicep binary" >&2
  exit 1
fi
mkdir -p .tools/bicep
cp "$binary" .tools/bicep/bicep
chmod +x .tools/bicep/bicep
echo "bicep: $(.tools/bicep/bicep --version)"
