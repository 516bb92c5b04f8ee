using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24, first part: three broker nodes over a three-server NATS cluster (each node attached to its own NATS
/// server, so messages cross NATS routes too), driven by mosquitto_pub/mosquitto_sub. Waits are on log lines, client
/// output and the management API, each with a deadline; nothing sleeps.
/// </summary>
public sealed class ClusterTests
{
    [Fact]
    public async Task Publish_OnOneNode_ReachesOtherNodeInOrder_AndNeverANodeWithoutInterest()
    {
        await using var nats = await NatsServers.StartAsync(3);
        await using var started = await ClusterHarness.StartAsync(3, nats);
        var (a, b, c) = (started[0], started[1], started[2]);

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
        Assert.Matches(@"session copies not yet written: \d+", status.Stdout);
        Assert.Matches(@"b@127\.0\.0\.1\s+running", status.Stdout);
        Assert.Matches(@"c@127\.0\.0\.1\s+running", status.Stdout);
    }

    [Fact]
    public async Task KilledNode_RoutesWithdrawnWithinASecond_OthersKeepExchanging()
    {
        await using var nats = await NatsServers.StartAsync(3);
        await using var started = await ClusterHarness.StartAsync(3, nats);
        var (a, b, c) = (started[0], started[1], started[2]);

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

        // Alone: its own clients are served (held until cluster.node_timeout at most, for a banned list it cannot read),
        // and status says NATS is not there.
        await using var local = await MosquittoClients.SubscribeAsync(lone, "-q", "1", "-t", "l/#", "-i", "local-sub");
        await lone.WaitForLogAsync(l => l.Contains("the banned list e2e-banned not read within cluster.node_timeout (1000 ms)", StringComparison.Ordinal),
            "lone to stop holding CONNECTs for the banned list", Deadline);
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

    // Issue 24 item 2: "$share groups span nodes (a message goes to one member cluster-wide, preferring a local member
    // as EMQX's local strategy can)"; EMQX replicates $share routes with their group, and a node that loses its last
    // member of a group withdraws that route. Non-shared subscribers keep getting every message.
    [Fact]
    public async Task SharedGroup_AcrossNodes_EachMessageOnceClusterWide_LocalMemberFirst_LeavingWithdrawsTheRoute()
    {
        await using var nats = await NatsServers.StartAsync(3);
        await using var started = await ClusterHarness.StartAsync(3, nats);
        var (a, b, c) = (started[0], started[1], started[2]);

        // Group g: two members on b, one on c, none on a. Group h: one member on a, one on c. An ordinary subscriber on b.
        await using var gB1 = await MosquittoClients.SubscribeAsync(b, "-V", "mqttv5", "-q", "1", "-t", "$share/g/s/#", "-i", "g-b1");
        await using var gB2 = await MosquittoClients.SubscribeAsync(b, "-V", "mqttv5", "-q", "1", "-t", "$share/g/s/#", "-i", "g-b2");
        await using var gC = await MosquittoClients.SubscribeAsync(c, "-V", "mqttv5", "-q", "1", "-t", "$share/g/s/#", "-i", "g-c");
        await using var hA = await MosquittoClients.SubscribeAsync(a, "-V", "mqttv5", "-q", "1", "-t", "$share/h/s/#", "-i", "h-a");
        await using var hC = await MosquittoClients.SubscribeAsync(c, "-V", "mqttv5", "-q", "1", "-t", "$share/h/s/#", "-i", "h-c");
        await using var plainB = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "s/#", "-i", "plain-b");
        // Routes: b has s/# and $share/g/s/#; c has $share/g/s/# and $share/h/s/#; a has $share/h/s/#.
        await UntilAsync(a, n => Routes(n, b) == 2 && Routes(n, c) == 2, "a to hold b's and c's routes");
        await UntilAsync(b, n => Routes(n, a) == 1 && Routes(n, c) == 2, "b to hold a's and c's routes");
        await UntilAsync(c, n => Routes(n, a) == 1 && Routes(n, b) == 2, "c to hold a's and b's routes");

        // Published on a: g has no member there, so each message goes to one node with members (b and c in turn) and
        // to one member there; h has a member on a, which gets them all (c is never asked).
        await PublishNumberedAsync(a, 0, 100);
        var g1 = await GroupMessagesAsync(100, gB1, gB2, gC);
        Assert.Equal(Numbers(0, 100), Payloads(g1).Order());
        Assert.True(Payloads(gB1, gB2).Count > 0 && Payloads(gC).Count > 0, $"g's messages were not spread: b {Payloads(gB1, gB2).Count}, c {Payloads(gC).Count}");
        TestContext.Current.TestOutputHelper?.WriteLine($"published on a: g's members on b got {Payloads(gB1, gB2).Count}, on c {Payloads(gC).Count}");
        Assert.Equal(Numbers(0, 100), (await MosquittoClients.MessagesAsync(hA, 100)).Select(m => int.Parse(m.Payload, CultureInfo.InvariantCulture)));
        Assert.Equal(Numbers(0, 100), (await MosquittoClients.MessagesAsync(plainB, 100)).Select(m => int.Parse(m.Payload, CultureInfo.InvariantCulture)));

        // Published on b: g has members there, so c's member gets none; h has none on b, so a and c share them.
        var gCBefore = Payloads(gC).Count;
        await PublishNumberedAsync(b, 100, 100);
        var g2 = await GroupMessagesAsync(200, gB1, gB2, gC);
        Assert.Equal(Numbers(0, 200), Payloads(g2).Order());
        var h2 = await GroupMessagesAsync(200, hA, hC);
        Assert.Equal(Numbers(0, 200), Payloads(h2).Order());
        Assert.Equal(gCBefore, Payloads(gC).Count); // checked after c's share of h arrived: c has seen b's forwards
        Assert.True(Payloads(hC).Count > 0 && Payloads(hC).All(n => n >= 100), $"h's member on c got {string.Join(',', Payloads(hC))}");
        Assert.Equal(Numbers(0, 200), (await MosquittoClients.MessagesAsync(plainB, 200)).Select(m => int.Parse(m.Payload, CultureInfo.InvariantCulture)));

        // b's last members of g leave: b withdraws $share/g/s/# (its ordinary route stays), and g's messages from a
        // all go to c.
        foreach (var member in new[] { gB1, gB2 })
        {
            member.Kill();
            await member.WaitForExitAsync(Deadline);
        }
        await UntilAsync(a, n => Routes(n, b) == 1, "a to drop b's route of group g");
        await PublishNumberedAsync(a, 200, 50);
        Assert.Equal(Numbers(200, 50), (await MosquittoClients.MessagesAsync(gC, gCBefore + 50)).Skip(gCBefore).Select(m => int.Parse(m.Payload, CultureInfo.InvariantCulture)));
        await MosquittoClients.MessagesAsync(hA, 250 - Payloads(hC).Count);
        Assert.Equal(Numbers(0, 250), (await MosquittoClients.MessagesAsync(plainB, 250)).Select(m => int.Parse(m.Payload, CultureInfo.InvariantCulture)));

        // QoS 1 throughout, and nothing twice anywhere (ordinary, g, h).
        Assert.All(new[] { gC, hA, hC, plainB }.SelectMany(MosquittoClients.MessagesSoFar), m => Assert.Equal(1, m.Qos));
        Assert.Equal(Numbers(0, 250), Payloads(hA, hC).Order());
        Assert.All(Payloads(hC), n => Assert.InRange(n, 100, 199)); // only what was published on b, which has no member of h
        Assert.Equal(250, MosquittoClients.MessagesSoFar(plainB).Count);
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

    private static int Routes(JsonElement nodes, BrokerProcess node) => Node(nodes, node.NodeName).GetProperty("routes").GetInt32();

    private static IEnumerable<int> Numbers(int start, int count) => Enumerable.Range(start, count);

    /// <summary>Publishes start, start+1, ... as QoS 1 messages to s/n from one mosquitto_pub on <paramref name="broker"/>.</summary>
    private static Task PublishNumberedAsync(BrokerProcess broker, int start, int count) =>
        MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "s/n", "-i", $"pub-{broker.NodeName[0]}-{start}"],
            Numbers(start, count).Select(i => i.ToString(CultureInfo.InvariantCulture)));

    private static List<int> Payloads(params ChildProcess[] subscribers) =>
        [.. subscribers.SelectMany(MosquittoClients.MessagesSoFar).Select(m => int.Parse(m.Payload, CultureInfo.InvariantCulture))];

    /// <summary>Waits (on their output) until the members of a group have printed <paramref name="total"/> messages between them.</summary>
    private static async Task<ChildProcess[]> GroupMessagesAsync(int total, params ChildProcess[] members)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        void Check(string line)
        {
            if (Payloads(members).Count >= total)
                done.TrySetResult();
        }
        foreach (var member in members)
            member.LineReceived += Check;
        try
        {
            Check("");
            await done.Task.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"the group's members printed {Payloads(members).Count} of {total} messages");
        }
        finally
        {
            foreach (var member in members)
                member.LineReceived -= Check;
        }
        return members;
    }
}
