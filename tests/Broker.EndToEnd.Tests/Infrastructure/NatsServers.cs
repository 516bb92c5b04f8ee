using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Broker.EndToEnd.Tests.Infrastructure;

/// <summary>
/// Debian's nats-server as child processes on private ports and a temp folder (../shared/DESIGN.md §9): one server, or
/// a cluster of several routed to each other. Disposing stops them (SIGTERM, then SIGKILL) and removes the folder.
/// A missing nats-server fails the test naming the package; scripts/test.sh installs it.
/// </summary>
public sealed class NatsServers : IAsyncDisposable
{
    private readonly string _directory;
    private readonly ChildProcess?[] _servers;
    private readonly IReadOnlyList<string> _arguments;

    private NatsServers(string directory, int[] ports, int[] clusterPorts, IReadOnlyList<string> arguments)
    {
        _directory = directory;
        _arguments = arguments;
        Ports = ports;
        ClusterPorts = clusterPorts;
        _servers = new ChildProcess?[ports.Length];
    }

    /// <summary>The client port of each server.</summary>
    public IReadOnlyList<int> Ports { get; }

    private int[] ClusterPorts { get; }

    /// <summary>nats://127.0.0.1:P of server <paramref name="i"/>.</summary>
    public string Url(int i) => "nats://127.0.0.1:" + Ports[i].ToString(CultureInfo.InvariantCulture);

    /// <summary>Every server's URL, server <paramref name="first"/>'s first (cluster.nats.servers of a node attached there).</summary>
    public string Urls(int first = 0) =>
        string.Join(',', Enumerable.Range(0, Ports.Count).OrderBy(i => i == first ? 0 : 1).Select(Url));

    /// <summary>The folder the servers run in (removed on dispose): for files a test gives them, e.g. certificates.</summary>
    public string Directory => _directory;

    /// <summary>
    /// Picks ports for <paramref name="count"/> servers; starts them unless <paramref name="start"/> is false, each with
    /// <paramref name="arguments"/> added (e.g. <c>--user u --pass p</c>, or <c>--tls ...</c>).
    /// </summary>
    public static async Task<NatsServers> StartAsync(int count, bool start = true, IReadOnlyList<string>? arguments = null)
    {
        for (var attempt = 1; ; attempt++)
        {
            var ports = Enumerable.Range(0, count).Select(_ => FreePorts.Next()).ToArray();
            var clusterPorts = Enumerable.Range(0, count).Select(_ => FreePorts.Next()).ToArray();
            var servers = new NatsServers(System.IO.Directory.CreateTempSubdirectory("nats-e2e-").FullName, ports, clusterPorts, arguments ?? []);
            if (!start)
                return servers;
            try
            {
                await Task.WhenAll(Enumerable.Range(0, count).Select(servers.StartServerAsync));
                return servers;
            }
            catch (InvalidOperationException ex) when (attempt < 3 && ex.Message.Contains("address already in use", StringComparison.Ordinal))
            {
                // A free port picked here was taken by another test before nats-server bound it: new ports, once more.
                await servers.DisposeAsync();
            }
            catch
            {
                await servers.DisposeAsync();
                throw;
            }
        }
    }

    /// <summary>Starts server <paramref name="i"/> (again) and waits for "Server is ready".</summary>
    public async Task StartServerAsync(int i)
    {
        var executable = File.Exists("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : Tools.Require("nats-server", "nats-server");
        var dir = System.IO.Directory.CreateDirectory(Path.Combine(_directory, "n" + i.ToString(CultureInfo.InvariantCulture))).FullName;
        // JetStream (the cluster's client-id registry) with a private store beside the server's folder.
        List<string> arguments = ["-a", "127.0.0.1", "-p", Ports[i].ToString(CultureInfo.InvariantCulture), "-n", "n" + i.ToString(CultureInfo.InvariantCulture),
            "-js", "-sd", Path.Combine(dir, "js")];
        if (Ports.Count > 1)
        {
            arguments.AddRange([
                "--cluster_name", "c", "--cluster", "nats://127.0.0.1:" + ClusterPorts[i].ToString(CultureInfo.InvariantCulture),
                "--routes", string.Join(',', ClusterPorts.Select(p => "nats://127.0.0.1:" + p.ToString(CultureInfo.InvariantCulture))),
            ]);
        }
        arguments.AddRange(_arguments);
        if (_servers[i] is { } previous)
        {
            // Started again after a kill: the old process's output goes to the test log now, before it is replaced.
            TestContext.Current.TestOutputHelper?.WriteLine($"--- nats n{i} (before its restart) ---\n" + previous.Transcript);
            await previous.DisposeAsync();
        }
        var process = ChildProcess.Start(executable, arguments, workingDirectory: dir, stderrIsOutput: true);
        _servers[i] = process;
        await process.WaitForLineAsync(l => l.Contains("Server is ready", StringComparison.Ordinal), TimeSpan.FromSeconds(20), $"nats-server n{i} ready");
    }

    /// <summary>Kills server <paramref name="i"/> with SIGKILL (no goodbye to its clients or routes) and waits until it is gone.</summary>
    public async Task KillServerAsync(int i)
    {
        var server = _servers[i] ?? throw new InvalidOperationException($"nats-server n{i} is not running");
        server.Signal("KILL");
        await server.WaitForExitAsync(TimeSpan.FromSeconds(10));
    }

    /// <summary>Everything server <paramref name="i"/> printed so far.</summary>
    public string Transcript(int i) => _servers[i]?.Transcript ?? "";

    public async ValueTask DisposeAsync()
    {
        foreach (var server in _servers)
        {
            if (server is null)
                continue;
            if (!server.HasExited)
            {
                server.Signal("TERM");
                try
                {
                    await server.WaitForExitAsync(TimeSpan.FromSeconds(10));
                }
                catch (TimeoutException)
                {
                }
            }
            TestContext.Current.TestOutputHelper?.WriteLine("--- nats ---\n" + server.Transcript);
            await server.DisposeAsync();
        }
        try
        {
            System.IO.Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

}
