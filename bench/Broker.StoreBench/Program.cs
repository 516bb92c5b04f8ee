using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Broker.StoreBench;

/// <summary>
/// storebench --engine rocksdb|sqlite|lmdb|faster|all --workload append|append4k|resume|steady|all
///            [--duration 10s] [--sessions 100000] [--out DIR]
/// Each run gets a fresh directory under /tmp, deleted afterwards; results go to DIR/results.json and a markdown
/// summary to stdout.
/// </summary>
internal static class Program
{
    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
    };

    private static async Task<int> Main(string[] args)
    {
        var engine = "all";
        var workload = "all";
        var duration = TimeSpan.FromSeconds(10);
        var sessions = 100_000;
        string? outDir = null;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = args[i + 1];
            switch (args[i])
            {
                case "--engine": engine = value; break;
                case "--workload": workload = value; break;
                case "--duration": duration = TimeSpan.FromSeconds(double.Parse(value.TrimEnd('s'), CultureInfo.InvariantCulture)); break;
                case "--sessions": sessions = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--out": outDir = value; break;
                default:
                    Console.Error.WriteLine($"unknown option {args[i]}; see the header of Program.cs");
                    return 2;
            }
        }
        if (args.Length % 2 != 0)
        {
            Console.Error.WriteLine("every option takes a value");
            return 2;
        }

        var engines = engine == "all" ? Engines.All : engine.Split(',');
        var workloads = workload == "all" ? ["append", "append4k", "resume", "steady"] : workload.Split(',');
        var root = Directory.CreateTempSubdirectory("storebench-").FullName;
        var results = new List<Result>();
        try
        {
            foreach (var w in workloads)
            {
                foreach (var e in engines)
                {
                    foreach (var run in Runs(w, duration))
                    {
                        var result = await RunOneAsync(e, w, run, sessions, Path.Combine(root, $"{e}-{results.Count}")).ConfigureAwait(false);
                        Console.Error.WriteLine(JsonSerializer.Serialize(result, Json).ReplaceLineEndings(" "));
                        results.Add(result);
                    }
                }
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }

        if (outDir is not null)
        {
            Directory.CreateDirectory(outDir);
            await File.WriteAllTextAsync(Path.Combine(outDir, "results.json"), JsonSerializer.Serialize(results, Json)).ConfigureAwait(false);
        }
        Console.Write(Markdown.Tables(results));
        return results.Exists(r => r.Error is not null) ? 1 : 0;
    }

    /// <summary>The runs a workload stands for: resume has none of the append options.</summary>
    private static AppendOptions?[] Runs(string workload, TimeSpan duration) => workload switch
    {
        "append" => [new("periodic", 8, 0, duration), new("sync", 8, 0, duration), new("sync", 64, 0, duration)],
        "append4k" => [new("periodic", 8, 4096, duration), new("sync", 64, 4096, duration)],
        "steady" => [new("periodic", 8, 0, duration * 3)],
        "resume" => [null],
        _ => throw new ArgumentException($"unknown workload '{workload}' (append|append4k|resume|steady|all)"),
    };

    private static async Task<Result> RunOneAsync(string engine, string workload, AppendOptions? options, int sessions, string directory)
    {
        var result = new Result
        {
            Engine = engine,
            Workload = workload,
            Mode = options?.Mode,
            Writers = options?.Writers,
            Values = options is null ? null : options.ValueSize == 0 ? "100-300 B" : $"{options.ValueSize} B",
        };
        try
        {
            if (options is null)
            {
                Workloads.Resume(engine, directory, sessions, result);
            }
            else
            {
                using var store = Engines.Open(engine, directory);
                await Workloads.AppendAckAsync(store, directory, options, result).ConfigureAwait(false);
            }
        }
#pragma warning disable CA1031 // a failing engine (missing native library, engine error) is a result, not the end of the comparison
        catch (Exception e)
#pragma warning restore CA1031
        {
            result.Error = $"{e.GetType().Name}: {e.Message}";
        }
        finally
        {
            if (Directory.Exists(directory))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
        return result;
    }
}

internal static class Markdown
{
    public static string Tables(List<Result> results)
    {
        var text = new StringBuilder();
        var append = results.FindAll(r => r.Workload is "append" or "append4k");
        if (append.Count > 0)
        {
            text.AppendLine("| engine | durability | writers | values | msg/s | CPU µs/msg | commit p50 µs | commit p99 µs | msgs/batch | size end MB |");
            text.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
            foreach (var r in append)
            {
                text.AppendLine(Row(r, r.Mode, r.Writers, r.Values, r.MessagesPerSecond, r.CpuMicrosPerMessage, r.CommitP50Micros,
                    r.CommitP99Micros, r.MeanBatch, Mb(r.SizeEnd)));
            }
            text.AppendLine();
        }
        var resume = results.FindAll(r => r.Workload == "resume");
        if (resume.Count > 0)
        {
            text.AppendLine("| engine | records | load s | open ms | scan ms | size loaded MB | after 90% deleted MB | compaction ms | after compaction MB |");
            text.AppendLine("|---|---|---|---|---|---|---|---|---|");
            foreach (var r in resume)
            {
                text.AppendLine(Row(r, r.Records, r.LoadSeconds, r.OpenMillis, r.ScanMillis, Mb(r.SizeLoaded), Mb(r.SizeAfterDelete),
                    r.CompactMillis, Mb(r.SizeAfterCompact)));
            }
            text.AppendLine();
        }
        var steady = results.FindAll(r => r.Workload == "steady");
        if (steady.Count > 0)
        {
            text.AppendLine("| engine | seconds | msg/s | size MB at 25% / 50% / 75% / 100% of the run | max MB |");
            text.AppendLine("|---|---|---|---|---|");
            foreach (var r in steady)
            {
                var s = r.SizeSamples ?? [];
                var quarters = s.Count == 0 ? null : string.Join(" / ", new[] { 0.25, 0.5, 0.75, 1.0 }.Select(q => Mb(s[(int)Math.Ceiling(q * s.Count) - 1])));
                text.AppendLine(Row(r, r.Seconds, r.MessagesPerSecond, quarters, Mb(r.SizeMax)));
            }
            text.AppendLine();
        }
        return text.ToString();
    }

    private static string Row(Result r, params object?[] cells) => r.Error is not null
        ? $"| {r.Engine} | failed: {r.Error.ReplaceLineEndings(" ").Replace('|', '/')} |"
        : $"| {r.Engine} | {string.Join(" | ", cells.Select(c => Convert.ToString(c, CultureInfo.InvariantCulture) ?? "–"))} |";

    private static double? Mb(long? bytes) => bytes is null ? null : Math.Round(bytes.Value / 1048576.0, 1);
}
