using System.Text.Json;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>What one run of bench printed: its exit code, its JSON report (with --json) and everything else.</summary>
public sealed record BenchResult(int ExitCode, JsonElement? Report, string Transcript)
{
    public long Long(string name) => Report!.Value.GetProperty(name).GetInt64();
}

/// <summary>The real bench (built from src/Broker.Bench next to the tests) as a child process.</summary>
public static class BenchRunner
{
    public static string BenchDll => Path.Combine(AppContext.BaseDirectory, "bench.dll");

    /// <summary>Runs <c>bench</c> against <paramref name="broker"/> with <c>--json</c>; the report is its last stdout line.</summary>
    public static Task<BenchResult> RunAsync(BrokerProcess broker, params string[] arguments) =>
        RunAsync(broker.Host, broker.Port, arguments);

    public static async Task<BenchResult> RunAsync(string host, int port, params string[] arguments)
    {
        if (!File.Exists(BenchDll))
        {
            Assert.Fail($"{BenchDll} not found: the test project must reference src/Broker.Bench");
        }

        await using var process = ChildProcess.Start("dotnet",
            [BenchDll, .. arguments, "--host", host, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--json"]);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(90));
        var lines = process.StdoutLines;
        JsonElement? report = null;
        if (lines.Count > 0 && lines[^1].StartsWith('{'))
        {
            using var document = JsonDocument.Parse(lines[^1]);
            report = document.RootElement.Clone();
        }
        return new BenchResult(code, report, process.Transcript);
    }
}
