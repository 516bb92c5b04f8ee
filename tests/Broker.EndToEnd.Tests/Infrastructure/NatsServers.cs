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

    private NatsServers(string directory, int[] ports, int[] clusterPorts)
    {
        _directory = directory;
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

    /// <summary>Picks ports for <paramref name="count"/> servers; starts them unless <paramref name="start"/> is false.</summary>
    public static async Task<NatsServers> StartAsync(int count, bool start = true)
    {
        var ports = Enumerable.Range(0, count).Select(_ => FreePort()).ToArray();
        var clusterPorts = Enumerable.Range(0, count).Select(_ => FreePort()).ToArray();
        var servers = new NatsServers(Directory.CreateTempSubdirectory("nats-e2e-").FullName, ports, clusterPorts);
        if (start)
        {
            try
            {
                await Task.WhenAll(Enumerable.Range(0, count).Select(servers.StartServerAsync));
            }
            catch
            {
                await servers.DisposeAsync();
                throw;
            }
        }
        return servers;
    }

    /// <summary>Starts server <paramref name="i"/> (again) and waits for "Server is ready".</summary>
    public async Task StartServerAsync(int i)
    {
        var executable = File.Exists("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : Tools.Require("nats-server", "nats-server");
        var dir = Directory.CreateDirectory(Path.Combine(_directory, "n" + i.ToString(CultureInfo.InvariantCulture))).FullName;
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
        var process = ChildProcess.Start(executable, arguments, workingDirectory: dir, stderrIsOutput: true);
        _servers[i] = process;
        await process.WaitForLineAsync(l => l.Contains("Server is ready", StringComparison.Ordinal), TimeSpan.FromSeconds(20), $"nats-server n{i} ready");
    }

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
            Directory.Delete(_directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
