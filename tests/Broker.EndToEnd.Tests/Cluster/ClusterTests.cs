using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24, first part: three broker nodes over a three-server NATS cluster (each node attached to its own NATS
/// server, so messages cross NATS routes too), driven by mosquitto_pub/mosquitto_sub. Waits are on log lines, client
/// output and the management API, each with a deadline; nothing sleeps.
/// </summary>
public sealed class ClusterTests
{
    internal static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task Publish_OnOneNode_ReachesOtherNodeInOrder_AndNeverANodeWithoutInterest()
    {
        await using var nats = await NatsServers.StartAsync(3);
        await using var a = await StartNodeAsync("a", nats, 0);
        await using var b = await StartNodeAsync("b", nats, 1);
        await using var c = await StartNodeAsync("c", nats, 2);
        await WaitJoinedAsync(a, b, c);

        // Route convergence: from b's SUBACK until a holds b's route (the API asked once before, so its first answer's
        // start-up cost is not counted).
        await NodesAsync(a);
        await using var sub = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "order/#", "-i", "sub-b");
        var converged = Stopwatch.StartNew();
        await UntilAsync(a, nodes => Node(nodes, "b@127.0.0.1").GetProperty("routes").GetInt32() == 1, "a to hold b's route");
        converged.Stop();
        TestContext.Current.TestOutputHelper?.WriteLine($"route convergence after SUBACK: {converged.Elapsed.TotalMilliseconds:0.0} ms");
        Assert.True(converged.Elapsed < TimeSpan.FromSeconds(1), $"route took {converged.Elapsed.TotalMilliseconds} ms to reach another node");

        const int count = 1000;
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "order/x", "-i", "pub-a"],
            Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)));
        var received = await MosquittoClients.MessagesAsync(sub, count, TimeSpan.FromSeconds(60));
        Assert.Equal(Enumerable.Range(0, count).Select(i => i.ToString(CultureInfo.InvariantCulture)), received.Select(m => m.Payload));
        Assert.All(received, m => Assert.Equal(1, m.Qos));

        // Once per message to b, never to c (no subscriber there): a's counters and what b and c say they received.
        var fromA = await NodesAsync(a);
        Assert.Equal(count, Node(fromA, "b@127.0.0.1").GetProperty("forwarded_to").GetInt64());
        Assert.Equal(0, Node(fromA, "c@127.0.0.1").GetProperty("forwarded_to").GetInt64());
        Assert.Equal(count, Self(await NodesAsync(b)).GetProperty("forwarded_in").GetInt64());
        Assert.Equal(0, Self(await NodesAsync(c)).GetProperty("forwarded_in").GetInt64());
        Assert.Equal(count, MosquittoClients.MessagesSoFar(sub).Count); // and nothing twice

        // ctl shows the cluster as an operator reads it.
        var status = await CtlRunner.RunAsync(a, "cluster", "status");
        Assert.True(status.ExitCode == 0, status.Transcript);
        Assert.Contains("NATS connected to 127.0.0.1:", status.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"b@127\.0\.0\.1\s+running", status.Stdout);
        Assert.Matches(@"c@127\.0\.0\.1\s+running", status.Stdout);
    }

    [Fact]
    public async Task KilledNode_RoutesWithdrawnWithinASecond_OthersKeepExchanging()
    {
        await using var nats = await NatsServers.StartAsync(3);
        await using var a = await StartNodeAsync("a", nats, 0);
        await using var b = await StartNodeAsync("b", nats, 1);
        await using var c = await StartNodeAsync("c", nats, 2);
        await WaitJoinedAsync(a, b, c);

        await using var subB = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "k/#", "-i", "sub-b");
        await using var subC = await MosquittoClients.SubscribeAsync(c, "-q", "1", "-t", "k/#", "-i", "sub-c");
        await UntilAsync(a, nodes => Node(nodes, "b@127.0.0.1").GetProperty("routes").GetInt32() == 1
            && Node(nodes, "c@127.0.0.1").GetProperty("routes").GetInt32() == 1, "a to hold b's and c's routes");
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "k/1", "-m", "before"]);
        Assert.Equal("before", (await MosquittoClients.MessagesAsync(subB, 1))[0].Payload);
        Assert.Equal("before", (await MosquittoClients.MessagesAsync(subC, 1))[0].Payload);

        var killed = Stopwatch.StartNew();
        b.Signal("KILL");
        await a.WaitForLogAsync(l => l.Contains("node b@127.0.0.1 is down", StringComparison.Ordinal), "a to find b down", Deadline);
        killed.Stop();
        TestContext.Current.TestOutputHelper?.WriteLine($"b's routes withdrawn on a {killed.Elapsed.TotalMilliseconds:0} ms after SIGKILL");
        Assert.True(killed.Elapsed < TimeSpan.FromSeconds(2), $"b was found down only after {killed.Elapsed.TotalMilliseconds} ms");
        var nodes = await NodesAsync(a);
        Assert.Equal("down", Node(nodes, "b@127.0.0.1").GetProperty("node_status").GetString());
        Assert.Equal(0, Node(nodes, "b@127.0.0.1").GetProperty("routes").GetInt32());
        var toB = Node(nodes, "b@127.0.0.1").GetProperty("forwarded_to").GetInt64();

        // a and c go on, both ways; nothing more is sent towards b.
        await using var subA = await MosquittoClients.SubscribeAsync(a, "-q", "1", "-t", "back/#", "-i", "sub-a");
        await UntilAsync(c, n => Node(n, "a@127.0.0.1").GetProperty("routes").GetInt32() == 1, "c to hold a's route");
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "k/2", "-m", "after"]);
        Assert.Equal("after", (await MosquittoClients.MessagesAsync(subC, 2))[1].Payload);
        await MosquittoClients.PublishAsync(c, ["-q", "1", "-t", "back/1", "-m", "from-c"]);
        Assert.Equal("from-c", (await MosquittoClients.MessagesAsync(subA, 1))[0].Payload);
        Assert.Equal(toB, Node(await NodesAsync(a), "b@127.0.0.1").GetProperty("forwarded_to").GetInt64());
    }

    [Fact]
    public async Task NodeStartedWithoutNats_ServesItsClients_AndJoinsWhenNatsStarts()
    {
        await using var nats = await NatsServers.StartAsync(1, start: false);
        await using var lone = await StartNodeAsync("lone", nats, 0);

        // Alone: its own clients are served, and status says NATS is not there.
        await using var local = await MosquittoClients.SubscribeAsync(lone, "-q", "1", "-t", "l/#", "-i", "local-sub");
        await MosquittoClients.PublishAsync(lone, ["-q", "1", "-t", "l/1", "-m", "alone"]);
        Assert.Equal("alone", (await MosquittoClients.MessagesAsync(local, 1))[0].Payload);
        var status = await CtlRunner.RunAsync(lone, "cluster", "status");
        Assert.True(status.ExitCode == 0, status.Transcript);
        Assert.Contains("NATS NOT connected", status.Stdout, StringComparison.Ordinal);
        Assert.False(Self(await NodesAsync(lone)).GetProperty("nats_connected").GetBoolean());

        // NATS comes up: the node connects by itself and meets a node started there.
        await nats.StartServerAsync(0);
        await lone.WaitForLogAsync(l => l.Contains("Cluster: NATS 127.0.0.1:", StringComparison.Ordinal), "lone to connect to NATS", Deadline);
        await using var other = await StartNodeAsync("other", nats, 0);
        await WaitJoinedAsync(lone, other);
        Assert.True(Self(await NodesAsync(lone)).GetProperty("nats_connected").GetBoolean());

        // Its route (made before NATS was there) reached the other node: messages cross.
        await UntilAsync(other, n => Node(n, "lone@127.0.0.1").GetProperty("routes").GetInt32() == 1, "other to hold lone's route");
        await MosquittoClients.PublishAsync(other, ["-q", "1", "-t", "l/2", "-m", "joined"]);
        Assert.Equal("joined", (await MosquittoClients.MessagesAsync(local, 2))[1].Payload);
    }

    [Fact]
    public async Task BadClusterSetting_StopsStartup_NamingTheKey()
    {
        var home = Directory.CreateTempSubdirectory("broker-e2e-").FullName;
        await using var broker = ChildProcess.Start("dotnet", [BrokerProcess.BrokerDll, "--home", home], new Dictionary<string, string>
        {
            [BrokerProcess.EnvironmentName("cluster.enable")] = "on",
            [BrokerProcess.EnvironmentName("cluster.nats.servers")] = "http://127.0.0.1:4222",
            [BrokerProcess.EnvironmentName("cluster.name")] = "a.b",
        });
        Assert.NotEqual(0, await broker.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("cluster.nats.servers", broker.Transcript, StringComparison.Ordinal);
        Assert.Contains("'http://127.0.0.1:4222' is not nats://host:port", broker.Transcript, StringComparison.Ordinal);
        Assert.Contains("cluster.name", broker.Transcript, StringComparison.Ordinal);
        Directory.Delete(home, recursive: true);
    }

    internal static Task<BrokerProcess> StartNodeAsync(string name, NatsServers nats, int server) =>
        BrokerProcess.StartAsync(o =>
        {
            o["node.name"] = name + "@127.0.0.1";
            o["cluster.enable"] = "on";
            o["cluster.name"] = "e2e";
            o["cluster.nats.servers"] = nats.Urls(server);
        });

    /// <summary>Waits until every node has synced with every other (their "joined" log lines).</summary>
    internal static async Task WaitJoinedAsync(params BrokerProcess[] nodes)
    {
        foreach (var node in nodes)
        {
            foreach (var other in nodes)
            {
                if (other != node)
                    await node.WaitForLogAsync(l => l.Contains($"node {other.NodeName} joined", StringComparison.Ordinal), $"{node.NodeName} to meet {other.NodeName}", Deadline);
            }
        }
    }

    internal static async Task<JsonElement> NodesAsync(BrokerProcess broker)
    {
        using var http = broker.CreateManagementClient();
        var json = await http.GetStringAsync("api/v5/nodes", TestContext.Current.CancellationToken);
        return JsonDocument.Parse(json).RootElement.GetProperty("data").Clone();
    }

    /// <summary>Asks the node's API again and again (each answer is the wait) until <paramref name="condition"/> holds.</summary>
    internal static async Task UntilAsync(BrokerProcess broker, Func<JsonElement, bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        JsonElement nodes = default;
        while (deadline.Elapsed < Deadline)
        {
            nodes = await NodesAsync(broker);
            if (nodes.EnumerateArray().Count() > 1 && condition(nodes))
                return;
        }
        Assert.Fail($"timed out waiting for {what}; last answer: {nodes}");
    }

    internal static JsonElement Node(JsonElement nodes, string name)
    {
        foreach (var node in nodes.EnumerateArray())
        {
            if (node.GetProperty("node").GetString() == name)
                return node;
        }
        Assert.Fail($"no node {name} in {nodes}");
        return default;
    }

    internal static JsonElement Self(JsonElement nodes) => nodes.EnumerateArray().First(n => n.GetProperty("self").GetBoolean());
}
