/** Shared set-up for all test files; services each test file needs are started by that file. */
export default function setup(): void {}
