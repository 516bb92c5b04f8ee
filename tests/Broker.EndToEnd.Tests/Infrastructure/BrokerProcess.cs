using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>What a test wants from the broker it starts. Keys are broker.conf keys (`mqtt.idle_timeout`).</summary>
public sealed class BrokerOptions
{
    public Dictionary<string, string> Settings { get; } = new(StringComparer.Ordinal)
    {
        ["listener.tcp.external"] = "127.0.0.1:0",
        // Off unless a test opens them (on 127.0.0.1:0): parallel brokers must not fight over 8883/8083/8084.
        ["listener.ssl.external"] = "off",
        ["listener.ws.external"] = "off",
        ["listener.wss.external"] = "off",
        ["management.listener"] = "127.0.0.1:0",
        ["allow_anonymous"] = "true",
        ["acl_nomatch"] = "allow",
        ["node.name"] = "broker@127.0.0.1",
    };

    /// <summary>Contents of etc/acl.conf (EMQX 4 Erlang-term syntax); an empty file when null.</summary>
    public string? AclConf { get; set; }

    /// <summary>
    /// The same rules in mosquitto's acl_file syntax, used only when developing the tests against
    /// mosquitto (E2E_BROKER=mosquitto).
    /// </summary>
    public string? MosquittoAcl { get; set; }

    public List<(string User, string Password)> Users { get; } = [];

    /// <summary>Plugins to start at boot, written to data/loaded_plugins (none by default).</summary>
    public List<string> LoadedPlugins { get; } = [];

    /// <summary>
    /// Copied into the home before the broker starts: home-relative target (`plugins/acme_hello`,
    /// `etc/plugins/acme_hello.conf`) to a source file, or a source folder copied with everything under it.
    /// </summary>
    public Dictionary<string, string> HomeContent { get; } = new(StringComparer.Ordinal);

    /// <summary>Plugin name to the text of its etc/plugins/&lt;name&gt;.conf.</summary>
    public Dictionary<string, string> PluginConf { get; } = new(StringComparer.Ordinal);

    /// <summary>More environment variables of the broker's process (e.g. libfaketime's, for a node whose clock is off).</summary>
    public Dictionary<string, string> Environment { get; } = new(StringComparer.Ordinal);

    public string this[string key]
    {
        get => Settings[key];
        set => Settings[key] = value;
    }
}

/// <summary>
/// The real broker as a child process: `dotnet broker.dll --home &lt;temp&gt;` with BROKER_* environment
/// overrides, ready once it prints its listener line. Stopped with SIGTERM; the home folder is removed.
/// E2E_BROKER=mosquitto starts Debian's mosquitto instead, only to develop the tests against a known broker.
/// </summary>
public sealed partial class BrokerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private readonly ChildProcess _process;
    private BrokerOptions? _options;
    private bool _ownsHome = true;

    private BrokerProcess(ChildProcess process, string home, string host, int port, string nodeName, bool isMosquitto, int managementPort = 0)
    {
        _process = process;
        ManagementPort = managementPort;
        HomeDirectory = home;
        Host = host;
        Port = port;
        NodeName = nodeName;
        IsMosquitto = isMosquitto;
    }

    public string Host { get; }

    public int Port { get; }

    public string NodeName { get; }

    /// <summary>Port of the management HTTP API on <see cref="Host"/> (0 for mosquitto, which has none).</summary>
    public int ManagementPort { get; }

    /// <summary>Base address of the management API, e.g. http://127.0.0.1:40123/.</summary>
    public Uri ManagementUrl => new($"http://{Host}:{ManagementPort.ToString(CultureInfo.InvariantCulture)}/");

    /// <summary>The secret the broker generated into data/management.secret (no secret is configured by default).</summary>
    public string ManagementSecret => File.ReadAllText(Path.Combine(HomeDirectory, "data", "management.secret")).Trim();

    /// <summary>An HttpClient for the management API, logged in as admin with the generated secret.</summary>
    public HttpClient CreateManagementClient()
    {
        var http = new HttpClient { BaseAddress = ManagementUrl, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + ManagementSecret)));
        return http;
    }

    public string HomeDirectory { get; }

    /// <summary>Process id of the broker (for bench --broker-pid, which reads its /proc entries).</summary>
    public int ProcessId => _process.Id;

    /// <summary>True when running against mosquitto for test development; CI never sets it.</summary>
    public bool IsMosquitto { get; }

    /// <summary>Everything the broker printed so far.</summary>
    public string Transcript => _process.Transcript;

    /// <summary>The port listener <paramref name="name"/> (<c>ssl:external</c>, <c>ws:external</c>...) first started on.</summary>
    public async Task<int> ListenerPortAsync(string name)
    {
        var line = await WaitForLogAsync(l => l.Contains($"Listener {name} started on ", StringComparison.Ordinal), $"listener {name}");
        return int.Parse(line[(line.LastIndexOf(':') + 1)..].Trim(), CultureInfo.InvariantCulture);
    }

    /// <summary>Waits for a line of the broker's log (lines already printed count).</summary>
    public Task<string> WaitForLogAsync(Func<string, bool> predicate, string what, TimeSpan? timeout = null) =>
        _process.WaitForLineAsync(predicate, timeout ?? TimeSpan.FromSeconds(20), what);

    /// <summary>Waits until <paramref name="count"/> lines of the broker's log match (lines already printed count).</summary>
    public Task<IReadOnlyList<string>> WaitForLogLinesAsync(Func<string, bool> predicate, int count, string what, TimeSpan? timeout = null) =>
        _process.WaitForLinesAsync(predicate, count, timeout ?? TimeSpan.FromSeconds(20), what);

    /// <summary>Sends a POSIX signal (e.g. "TERM") to the broker process.</summary>
    public void Signal(string signal) => _process.Signal(signal);

    /// <summary>Waits for the broker to exit and returns its exit code (killing it after the timeout).</summary>
    public Task<int> WaitForExitAsync(TimeSpan timeout) => _process.WaitForExitAsync(timeout);

    public static bool UseMosquitto =>
        string.Equals(Environment.GetEnvironmentVariable("E2E_BROKER"), "mosquitto", StringComparison.OrdinalIgnoreCase);

    public static string BrokerDll => Path.Combine(AppContext.BaseDirectory, "broker.dll");

    public static async Task<BrokerProcess> StartAsync(Action<BrokerOptions>? configure = null)
    {
        var options = new BrokerOptions();
        configure?.Invoke(options);
        var home = Directory.CreateTempSubdirectory("broker-e2e-").FullName;
        try
        {
            var broker = UseMosquitto ? await StartMosquittoAsync(options, home) : await StartOursAsync(options, home);
            broker._options = options;
            return broker;
        }
        catch
        {
            TryDeleteDirectory(home);
            throw;
        }
    }

    /// <summary>The BROKER_* variable overriding a broker.conf key: `.` becomes `__`, upper case.</summary>
    public static string EnvironmentName(string key) =>
        "BROKER_" + key.Replace(".", "__", StringComparison.Ordinal).ToUpperInvariant();

    /// <summary>
    /// Stops the broker with SIGTERM (a clean stop: plugins are stopped), or SIGKILL with <c>crash</c>, and starts a new
    /// one on the same home and options, on new ports. The home now belongs to the returned broker; dispose this one as well (cheap).
    /// <paramref name="whileDown"/> runs after the old process has exited and before the new one starts.
    /// </summary>
    public async Task<BrokerProcess> RestartAsync(bool crash = false, Func<Task>? whileDown = null)
    {
        if (IsMosquitto || _options is null)
        {
            Assert.Fail("RestartAsync is only supported for this broker");
        }

        _process.Signal(crash ? "KILL" : "TERM");
        var code = await _process.WaitForExitAsync(StopTimeout);
        Assert.True(crash || code == 0, $"the broker exited with {code} on SIGTERM\n{_process.Transcript}");
        _ownsHome = false;
        if (whileDown is not null)
            await whileDown();
        var next = await StartOursAsync(_options, HomeDirectory);
        next._options = _options;
        return next;
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Signal("TERM");
                try
                {
                    await _process.WaitForExitAsync(StopTimeout);
                }
                catch (TimeoutException)
                {
                    // WaitForExitAsync killed it; the transcript below says it had to.
                }
            }

            TestContext.Current.TestOutputHelper?.WriteLine("--- broker ---\n" + _process.Transcript);
            await _process.DisposeAsync();
        }
        finally
        {
            if (_ownsHome)
            {
                TryDeleteDirectory(HomeDirectory);
            }
        }
    }

    private static async Task<BrokerProcess> StartOursAsync(BrokerOptions options, string home)
    {
        var etc = Directory.CreateDirectory(Path.Combine(home, "etc")).FullName;
        var data = Directory.CreateDirectory(Path.Combine(home, "data")).FullName;
        if (options.LoadedPlugins.Count > 0)
        {
            await File.WriteAllLinesAsync(Path.Combine(data, "loaded_plugins"), options.LoadedPlugins);
        }
        foreach (var (target, source) in options.HomeContent)
        {
            Copy(source, Path.Combine(home, target));
        }
        foreach (var (name, text) in options.PluginConf)
        {
            Directory.CreateDirectory(Path.Combine(etc, "plugins"));
            await File.WriteAllTextAsync(Path.Combine(etc, "plugins", name + ".conf"), text);
        }

        if (!File.Exists(BrokerDll))
        {
            Assert.Fail($"{BrokerDll} not found: the test project must reference src/Broker.Server");
        }

        // No rules by default: acl_nomatch decides, as on a fresh install.
        await File.WriteAllTextAsync(Path.Combine(etc, "acl.conf"), options.AclConf ?? "");

        // With the broker's own settings, so password_hash_iterations applies as it would for an operator.
        var environment = options.Settings.ToDictionary(kv => EnvironmentName(kv.Key), kv => kv.Value);
        foreach (var (user, password) in options.Users)
        {
            await RunToCompletionAsync(
                "dotnet", [BrokerDll, "--home", home, "passwd", "add", user, "-p", password], environment);
        }

        var process = ChildProcess.Start("dotnet", [BrokerDll, "--home", home], new Dictionary<string, string>([.. environment, .. options.Environment]), home);
        try
        {
            var line = await process.WaitForLineAsync(
                l => ListenerLine().IsMatch(l), StartTimeout, "`Listener tcp:external started on HOST:PORT`");
            var match = ListenerLine().Match(line);
            var management = ManagementLine().Match(await process.WaitForLineAsync(
                l => ManagementLine().IsMatch(l), StartTimeout, "`Listener management started on HOST:PORT`"));
            return new BrokerProcess(
                process,
                home,
                match.Groups["host"].Value,
                int.Parse(match.Groups["port"].Value, CultureInfo.InvariantCulture),
                options["node.name"],
                isMosquitto: false,
                int.Parse(management.Groups["port"].Value, CultureInfo.InvariantCulture));
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    private static async Task<BrokerProcess> StartMosquittoAsync(BrokerOptions options, string home)
    {
        var mosquitto = File.Exists("/usr/sbin/mosquitto") ? "/usr/sbin/mosquitto" : Tools.Require("mosquitto", "mosquitto");
        var port = FreePorts.Next();
        var conf = new StringBuilder()
            .AppendLine("user root")
            .AppendLine("persistence false")
            .AppendLine("log_dest stderr") // unbuffered, unlike stdout into a pipe
            .AppendLine("log_type all")
            .AppendLine(CultureInfo.InvariantCulture, $"listener {port} 127.0.0.1")
            .AppendLine(CultureInfo.InvariantCulture, $"allow_anonymous {options["allow_anonymous"]}");
        if (options.Settings.TryGetValue("broker.sys_interval", out var sys))
        {
            conf.AppendLine(CultureInfo.InvariantCulture, $"sys_interval {sys.TrimEnd('s')}");
        }

        if (options.Settings.TryGetValue("mqtt.max_packet_size", out var maxPacket))
        {
            conf.AppendLine(CultureInfo.InvariantCulture, $"max_packet_size {ParseBytes(maxPacket)}");
        }

        if (options.Users.Count > 0)
        {
            var passwd = Path.Combine(home, "passwd");
            await File.WriteAllTextAsync(passwd, "");
            foreach (var (user, password) in options.Users)
            {
                await RunToCompletionAsync(Tools.Require("mosquitto_passwd", "mosquitto"), ["-b", passwd, user, password]);
            }

            conf.AppendLine(CultureInfo.InvariantCulture, $"password_file {passwd}");
        }

        if (options.MosquittoAcl is not null)
        {
            var acl = Path.Combine(home, "acl");
            await File.WriteAllTextAsync(acl, options.MosquittoAcl);
            conf.AppendLine(CultureInfo.InvariantCulture, $"acl_file {acl}");
        }

        var confPath = Path.Combine(home, "mosquitto.conf");
        await File.WriteAllTextAsync(confPath, conf.ToString());
        var process = ChildProcess.Start(mosquitto, ["-c", confPath], workingDirectory: home, stderrIsOutput: true);
        try
        {
            await process.WaitForLineAsync(l => l.Contains(" running", StringComparison.Ordinal), StartTimeout, "mosquitto running");
            return new BrokerProcess(process, home, "127.0.0.1", port, options["node.name"], isMosquitto: true);
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }
    }

    private static async Task RunToCompletionAsync(string fileName, string[] arguments, Dictionary<string, string>? environment = null)
    {
        await using var process = ChildProcess.Start(fileName, arguments, environment);
        var code = await process.WaitForExitAsync(TimeSpan.FromSeconds(60));
        if (code != 0)
        {
            Assert.Fail($"exit code {code}\n{process.Transcript}");
        }
    }

    /// <summary>Copies a file or a folder into the running broker's home, e.g. a plugin into <c>plugins/name</c>.</summary>
    public void CopyIntoHome(string source, string homeRelativeTarget) => Copy(source, Path.Combine(HomeDirectory, homeRelativeTarget));

    private static void Copy(string source, string target)
    {
        if (File.Exists(source))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target, overwrite: true);
            return;
        }

        if (!Directory.Exists(source))
        {
            Assert.Fail($"{source}: nothing to copy into the broker home");
        }

        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            Copy(file, Path.Combine(target, Path.GetRelativePath(source, file)));
        }
    }


    private static long ParseBytes(string value)
    {
        var match = Regex.Match(value.Trim(), "^(?<n>[0-9]+)(?<unit>KB|MB|GB)?$", RegexOptions.IgnoreCase);
        var n = long.Parse(match.Groups["n"].Value, CultureInfo.InvariantCulture);
        return match.Groups["unit"].Value.ToUpperInvariant() switch
        {
            "KB" => n * 1024,
            "MB" => n * 1024 * 1024,
            "GB" => n * 1024 * 1024 * 1024,
            _ => n,
        };
    }

    private static void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    [GeneratedRegex(@"Listener tcp:external started on (?<host>\S+):(?<port>\d+)")]
    private static partial Regex ListenerLine();

    [GeneratedRegex(@"Listener management started on (?<host>\S+):(?<port>\d+)")]
    private static partial Regex ManagementLine();
}
