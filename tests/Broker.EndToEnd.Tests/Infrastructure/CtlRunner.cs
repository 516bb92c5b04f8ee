using System.Globalization;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>What one run of ctl did.</summary>
public sealed record CtlResult(int ExitCode, string Stdout, string Transcript)
{
    /// <summary>stderr lines (ChildProcess marks them with "! " in the transcript).</summary>
    public string Stderr => string.Join('\n', Transcript.Split('\n').Where(l => l.StartsWith("! ", StringComparison.Ordinal)).Select(l => l[2..].TrimEnd('\r')));
}

/// <summary>The real ctl (built from src/Broker.Ctl next to the tests) as a child process.</summary>
public static class CtlRunner
{
    public static string CtlDll => Path.Combine(AppContext.BaseDirectory, "ctl.dll");

    /// <summary>Runs ctl against <paramref name="broker"/>: its home (for data/management.secret) and its API URL.</summary>
    public static Task<CtlResult> RunAsync(BrokerProcess broker, params string[] arguments) =>
        RunAsync(["--home", broker.HomeDirectory, "--url", broker.ManagementUrl.ToString(), .. arguments]);

    public static async Task<CtlResult> RunAsync(string[] arguments, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        if (!File.Exists(CtlDll))
        {
            Assert.Fail($"{CtlDll} not found: the test project must reference src/Broker.Ctl");
        }

        // No BROKER_* from the developer's shell may steer ctl somewhere else.
        var env = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["BROKER_HOME"] = "", ["BROKER_CTL_URL"] = "", ["BROKER_CTL_USER"] = "", ["BROKER_CTL_SECRET"] = "",
        };
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            env[key] = value;
        }

        await using var process = ChildProcess.Start("dotnet", [CtlDll, .. arguments], env, workingDirectory);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        return new CtlResult(code, string.Join('\n', process.StdoutLines), process.Transcript);
    }

    public static string Port(int port) => port.ToString(CultureInfo.InvariantCulture);
}
