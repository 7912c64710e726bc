// What an operator sees of the nightly job: three log alerts and a workbook, all over the one custom event each run
// sends to Application Insights (customEvents, name "AcrCacheCleanerRun"; src/telemetry/runTelemetry.ts; an
// interrupted run's is sent by the run that closes it). The
// queries live in monitoring/*.kql and monitoring/workbook.json, which the tests run against the telemetry the
// app really sends.

@description('Region of the Application Insights resource (log alerts live beside what they query).')
param location string

param tags object

@description('Suffix of the resource names.')
param nameSuffix string

@description('The Application Insights resource the function app sends its telemetry to.')
param appInsightsName string

@description('E-mail address the alerts notify; empty: the alerts only show in the portal.')
param alertEmail string = ''

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: appInsightsName
}

resource emailOperator 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(alertEmail)) {
  name: 'ag-acrclean-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'acrclean'
    enabled: true
    emailReceivers: [
      {
        name: 'operator'
        emailAddress: alertEmail
        useCommonAlertSchema: true
      }
    ]
  }
}

var alerts = [
  {
    name: 'run-failed-or-refused'
    displayName: 'acr-cache-cleaner: a run failed or was refused'
    description: 'A run of cleanImageCache failed (a deletion failed or was not permitted, the registry could not be listed, the run lease was lost, a bad setting, or the run lease has been held longer than a run can last: a stuck run), was refused by a safety guard (nothing deleted), or was found interrupted by the next run. The alert lists the reason and the run\'s HTML report; the workbook "acr-cache-cleaner: nightly runs" has the history.'
    severity: 1
    query: loadTextContent('monitoring/run-failed-or-refused.kql')
    windowSize: 'PT1H'
    evaluationFrequency: 'PT15M'
    operator: 'GreaterThan'
    threshold: 0
  }
  {
    name: 'no-completed-run'
    displayName: 'acr-cache-cleaner: no completed run in 48 hours'
    description: 'No run of cleanImageCache completed in the last 48 hours: the schedule did not fire (the app is stopped or broken), or every run since stepped aside because another held the run lease, failed, was refused or was interrupted.'
    severity: 2
    query: loadTextContent('monitoring/completed-runs.kql')
    windowSize: 'P2D'
    evaluationFrequency: 'PT1H'
    operator: 'LessThan'
    threshold: 1
  }
  {
    name: 'work-left-every-run'
    displayName: 'acr-cache-cleaner: every run leaves work for the next'
    description: 'Every run of the last two days stopped with deletions left for the next run (its time budget, the registry\'s throttling, or MAX_DELETES): the cache grows faster than a night can clean it. Raise TIME_BUDGET_SECONDS or DELETES_PER_MINUTE within the registry\'s limits, or run more often.'
    severity: 3
    query: loadTextContent('monitoring/work-left-every-run.kql')
    windowSize: 'P2D'
    evaluationFrequency: 'PT1H'
    operator: 'GreaterThan'
    threshold: 0
  }
]

resource runAlerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in alerts: {
    name: 'alert-acrclean-${nameSuffix}-${alert.name}'
    location: location
    tags: tags
    kind: 'LogAlert'
    properties: {
      displayName: alert.displayName
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [
        appInsights.id
      ]
      evaluationFrequency: alert.evaluationFrequency
      windowSize: alert.windowSize
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Count'
            operator: alert.operator
            threshold: alert.threshold
            failingPeriods: {
              numberOfEvaluationPeriods: 1
              minFailingPeriodsToAlert: 1
            }
          }
        ]
      }
      autoMitigate: true
      actions: {
        actionGroups: empty(alertEmail) ? [] : [emailOperator.id]
      }
    }
  }
]

resource runsWorkbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(appInsights.id, 'acr-cache-cleaner-runs-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'acr-cache-cleaner: nightly runs'
    category: 'workbook'
    version: 'Notebook/1.0'
    sourceId: appInsights.id
    serializedData: replace(loadTextContent('monitoring/workbook.json'), '__APP_INSIGHTS_ID__', appInsights.id)
  }
}
