namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Locates the real clients the tests drive. A missing one is a test failure naming what to install,
/// never a skip: CI must not go green without having talked to them.
/// </summary>
public static class Tools
{
    /// <summary>Debian's python3, the only one that can import Debian's paho.</summary>
    public const string Python = "/usr/bin/python3";

    private static readonly Lazy<string?> PahoProblem = new(() =>
    {
        if (!File.Exists(Python))
        {
            return $"{Python} not found: install the Debian package python3-paho-mqtt (scripts/test.sh does)";
        }

        var check = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(Python, ["-c", "import paho.mqtt.client"])
        {
            RedirectStandardError = true,
            UseShellExecute = false,
        })!;
        var error = check.StandardError.ReadToEnd();
        check.WaitForExit();
        return check.ExitCode == 0
            ? null
            : $"{Python} cannot import paho.mqtt: install the Debian package python3-paho-mqtt (scripts/test.sh does)\n{error}";
    });

    /// <summary>The repository root (the folder holding Broker.sln).</summary>
    public static string RepoRoot { get; } = FindRepoRoot();

    public static string InteropDirectory => Path.Combine(RepoRoot, "tests", "interop");

    /// <summary>The full path of <paramref name="executable"/> on PATH, or a failed test naming the package.</summary>
    public static string Require(string executable, string debianPackage)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, executable);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        Assert.Fail($"{executable} not found on PATH: install the Debian package {debianPackage} (scripts/test.sh does)");
        return executable;
    }

    public static void RequirePaho()
    {
        if (PahoProblem.Value is { } problem)
        {
            Assert.Fail(problem);
        }
    }

    /// <summary>node plus MQTT.js installed by `npm ci` in tests/interop.</summary>
    public static string RequireMqttJs()
    {
        var node = Require("node", "nodejs");
        if (!File.Exists(Path.Combine(InteropDirectory, "node_modules", "mqtt", "package.json")))
        {
            Assert.Fail($"the npm package mqtt (MQTT.js) is not installed in {InteropDirectory}: run `npm ci` there (scripts/test.sh does)");
        }

        return node;
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Broker.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"no Broker.sln above {AppContext.BaseDirectory}");
    }
}
