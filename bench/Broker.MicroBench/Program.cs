using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

// dotnet run -c Release --project bench/Broker.MicroBench -- --filter '*'
// Default job: BenchmarkDotNet's ShortRun (3 warm-up, 3 measured iterations) in process, so the whole set takes
// minutes and needs no generated project (whose restore the partial package registry may not serve). Pass --job
// (e.g. --job medium) to choose another job instead; BenchmarkDotNet then builds a separate project per run.
var explicitJob = args.Any(a => a is "--job" or "-j" || a.StartsWith("--job=", StringComparison.Ordinal));
var config = DefaultConfig.Instance.AddDiagnoser(MemoryDiagnoser.Default);
if (!explicitJob)
    // In process, a benchmark (setup included: 1M router filters take a while) may run for up to 30 minutes.
    config = config.AddJob(Job.ShortRun.WithToolchain(new InProcessEmitToolchain(TimeSpan.FromMinutes(30), logOutput: true)).AsDefault());
BenchmarkSwitcher.FromAssembly(typeof(Broker.MicroBench.CodecBenchmarks).Assembly).Run(args, config);
