// The tests share one kernel: BPF programs, tracepoints and netfilter hooks are global state, and
// several tests assert that nothing was left loaded. Run them one at a time so no test sees another's.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

// Like the code under test, the tests run on Linux only.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
