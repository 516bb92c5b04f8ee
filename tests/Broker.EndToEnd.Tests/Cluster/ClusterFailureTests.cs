using System.Diagnostics;
using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24 item 4: a NATS server killed in a 3-server NATS cluster, and a node cut off from NATS (a network split),
/// with real clients on real broker processes. Waits are on log lines, client output and the management API, each
/// with a deadline; the publisher's pace is the load's shape, not a wait.
/// </summary>
public sealed class ClusterFailureTests
{
    [Theory]
    [InlineData(0, "the publisher's node's")]
    [InlineData(1, "the subscriber's node's")]
    public async Task NatsServerKilled_NodeMovesToAnother_NumberedQos1FlowOnInOrder_RoutesStay(int killed, string which)
    {
        await using var nats = await NatsServers.StartAsync(3);
        await using var nodes = await StartAsync(3, nats); // a on n0, b on n1, c on n2; each lists all three
        var (a, b) = (nodes[0], nodes[1]);
        await using var sub = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "steady/#", "-i", "sub-b");
        await UntilAsync(a, n => Node(n, b.NodeName).GetProperty("routes").GetInt32() == 1, "a to hold b's route");

        const int count = 2000;
        await using var pub = SteadyPublisher.Start(a, "steady/n", "pub-a", count, TimeSpan.FromMilliseconds(2));
        await MosquittoClients.MessagesAsync(sub, 300, Deadline);

        var moving = nodes[killed];
        var killedAt = DateTime.UtcNow;
        await nats.KillServerAsync(killed);
        await moving.WaitForLogAsync(l => l.Contains("Cluster: NATS connection lost", StringComparison.Ordinal), $"{moving.NodeName} to lose NATS", Deadline);
        var back = await moving.WaitForLogAsync(l => l.Contains(" reconnected; this node is in the cluster", StringComparison.Ordinal), $"{moving.NodeName} to reconnect", Deadline);
        var reconnectedAt = LogTime(back);
        Assert.DoesNotContain(":" + nats.Ports[killed].ToString(CultureInfo.InvariantCulture) + " ", back, StringComparison.Ordinal);

        await pub.CompletedAsync(TimeSpan.FromSeconds(60));
        // One publisher's messages stay in order: once the last is there, everything that will come has come.
        await sub.WaitForLineAsync(l => ReceivedMessage.IsMessage(l) && ReceivedMessage.Parse(l).Payload == (count - 1).ToString(CultureInfo.InvariantCulture), Deadline, "the last message");
        var received = MosquittoClients.MessagesSoFar(sub).Select(m => int.Parse(m.Payload, CultureInfo.InvariantCulture)).ToList();
        Assert.All(MosquittoClients.MessagesSoFar(sub), m => Assert.Equal(1, m.Qos));
        for (var i = 1; i < received.Count; i++)
            Assert.True(received[i] > received[i - 1], $"out of order or twice: {received[i - 1]} then {received[i]}");
        var missing = Enumerable.Range(0, count).Except(received).ToList();
        var fromA = await NodesAsync(a);
        var resent = Self(fromA).GetProperty("forward_resent").GetInt64();
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"killed {which} NATS server: {moving.NodeName} reconnected {(reconnectedAt - killedAt).TotalMilliseconds:0} ms after the kill; " +
            $"lost {missing.Count} of {count} ({Describe(missing)}); a sent {resent} forward(s) again");
        Assert.Empty(missing);
        Assert.Equal(count, received.Count);

        // Nothing else visible: no node was ever down, b's route stayed on a, nothing was dropped for a full queue.
        foreach (var node in nodes)
            Assert.DoesNotContain(" is down (not heard", node.Transcript, StringComparison.Ordinal);
        fromA = await NodesAsync(a);
        Assert.Equal(1, Node(fromA, b.NodeName).GetProperty("routes").GetInt32());
        Assert.Equal(0, Self(fromA).GetProperty("forward_dropped").GetInt64());
        Assert.All(fromA.EnumerateArray(), n => Assert.Equal("running", n.GetProperty("node_status").GetString()));
    }

    [Fact]
    public async Task NodeCutOffFromNats_ServesItsOwnClients_OthersWithdrawItsRoutes_RejoinsWhenHealed()
    {
        // c reaches NATS only through n2, as a node whose one link into the NATS cluster is its own server; killing n2
        // cuts c off (its connection refused, as a link that is down), while a, b, n0 and n1 go on. --no_advertise: NATS
        // servers otherwise tell their clients about the others, and c would simply move to n0 or n1 (as in the test above).
        await using var nats = await NatsServers.StartAsync(3, arguments: ["--no_advertise"]);
        await using var nodes = await StartAsync(3, nats, (i, o) =>
        {
            if (i == 2)
                o["cluster.nats.servers"] = nats.Url(2);
        });
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        await using var subA = await MosquittoClients.SubscribeAsync(a, "-q", "1", "-t", "split/#", "-i", "sub-a");
        await using var subC = await MosquittoClients.SubscribeAsync(c, "-q", "1", "-t", "split/#", "-i", "sub-c");
        await UntilAsync(a, n => Routes(n, c) == 1, "a to hold c's route");
        await UntilAsync(c, n => Routes(n, a) == 1, "c to hold a's route");
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "split/a", "-m", "a-before"]);
        await MosquittoClients.PublishAsync(c, ["-q", "1", "-t", "split/c", "-m", "c-before"]);
        Assert.Equal(["a-before", "c-before"], (await MosquittoClients.MessagesAsync(subC, 2)).Select(m => m.Payload));
        Assert.Equal(["a-before", "c-before"], (await MosquittoClients.MessagesAsync(subA, 2)).Select(m => m.Payload));

        // The cut: a and b find c down and withdraw its routes; c finds them down.
        var cut = Stopwatch.StartNew();
        await nats.KillServerAsync(2);
        await a.WaitForLogAsync(l => l.Contains("node c@127.0.0.1 is down", StringComparison.Ordinal), "a to find c down", Deadline);
        var withdrawn = cut.Elapsed;
        await b.WaitForLogAsync(l => l.Contains("node c@127.0.0.1 is down", StringComparison.Ordinal), "b to find c down", Deadline);
        await c.WaitForLogAsync(l => l.Contains("node a@127.0.0.1 is down", StringComparison.Ordinal), "c to find a down", Deadline);
        await c.WaitForLogAsync(l => l.Contains("node b@127.0.0.1 is down", StringComparison.Ordinal), "c to find b down", Deadline);
        TestContext.Current.TestOutputHelper?.WriteLine($"c's routes withdrawn on a {withdrawn.TotalMilliseconds:0} ms after the cut");
        Assert.True(withdrawn < TimeSpan.FromSeconds(2), $"a found c down only after {withdrawn.TotalMilliseconds} ms");
        var line = await c.WaitForLogAsync(l => l.Contains("Cluster: cannot connect to NATS", StringComparison.Ordinal), "c to say it cannot reach NATS", Deadline);
        Assert.Contains($"{nats.Url(2)}: Connection refused; serving this node's clients alone", line, StringComparison.Ordinal);

        var fromA = await NodesAsync(a);
        Assert.Equal("down", Node(fromA, c.NodeName).GetProperty("node_status").GetString());
        Assert.Equal(0, Routes(fromA, c));
        var toC = Node(fromA, c.NodeName).GetProperty("forwarded_to").GetInt64();
        var status = await CtlRunner.RunAsync(c, "cluster", "status");
        Assert.True(status.ExitCode == 0, status.Transcript);
        Assert.Contains("NATS NOT connected (Connection refused;", status.Stdout, StringComparison.Ordinal);
        Assert.Matches(@"a@127\.0\.0\.1\s+down", status.Stdout);
        Assert.Matches(@"b@127\.0\.0\.1\s+down", status.Stdout);

        // During the split each side serves its own clients; nothing crosses, nothing is kept for later.
        await MosquittoClients.PublishAsync(c, ["-q", "1", "-t", "split/c", "-m", "c-during"]);
        Assert.Equal("c-during", (await MosquittoClients.MessagesAsync(subC, 3))[2].Payload);
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "split/a", "-m", "a-during"]);
        Assert.Equal("a-during", (await MosquittoClients.MessagesAsync(subA, 3))[2].Payload);
        Assert.Equal(toC, Node(await NodesAsync(a), c.NodeName).GetProperty("forwarded_to").GetInt64());
        // One client id on both sides: c, without the client-id registry, accepts it unchecked; a claims it in the
        // registry (its majority, n0 and n1, is on a's side) or, while JetStream is still re-electing, accepts it
        // unchecked too.
        await using var sameIdOnC = await RawMqttClient.ConnectMqttAsync(c, ConnectPacket("same-id", V5));
        await using var sameIdOnA = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("same-id", V5));

        // Healed: c reconnects, the others sync its routes again, and messages cross both ways.
        var healed = Stopwatch.StartNew();
        await nats.StartServerAsync(2);
        await c.WaitForLogAsync(l => l.Contains(" reconnected; this node is in the cluster", StringComparison.Ordinal), "c to reconnect", Deadline);
        await UntilAsync(a, n => Node(n, c.NodeName).GetProperty("node_status").GetString() == "running" && Routes(n, c) == 1, "a to hold c's route again");
        var rejoined = healed.Elapsed;
        await UntilAsync(c, n => Routes(n, a) == 1, "c to hold a's route again");
        TestContext.Current.TestOutputHelper?.WriteLine($"c rejoined (a holds its routes) {rejoined.TotalMilliseconds:0} ms after its NATS server restarted");
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "split/a", "-m", "a-after"]);
        await MosquittoClients.PublishAsync(c, ["-q", "1", "-t", "split/c", "-m", "c-after"]);
        Assert.Equal(["a-before", "c-before", "c-during", "a-after", "c-after"], (await MosquittoClients.MessagesAsync(subC, 5)).Select(m => m.Payload));
        Assert.Equal(["a-before", "c-before", "a-during", "a-after", "c-after"], (await MosquittoClients.MessagesAsync(subA, 5)).Select(m => m.Payload));
        foreach (var node in nodes)
            Assert.All((await NodesAsync(node)).EnumerateArray(), n => Assert.Equal("running", n.GetProperty("node_status").GetString()));

        // Healed, the registry's owner is the only owner: the other node closes its copy of the id with DISCONNECT
        // 0x8E (Session taken over, MQTT 5 §3.14.2.1) and the owner's stays connected. Which side owns it depends on
        // whether a's claim reached the registry while JetStream re-elected its leaders after the cut; if it did
        // not, both accepted it unchecked and the first to reconcile after the heal wins.
        var first = await Task.WhenAny(sameIdOnA.Closed, sameIdOnC.Closed).WaitAsync(Deadline, TestContext.Current.CancellationToken);
        var (closed, kept, closer) = first == sameIdOnA.Closed ? (sameIdOnA, sameIdOnC, a) : (sameIdOnC, sameIdOnA, c);
        var closing = await closed.WaitForCloseAsync(Deadline);
        Assert.Equal(0x8E, ReasonCode(Assert.Single(closing, p => p.Type == Disconnect)));
        await closer.WaitForLogAsync(l => l.Contains("client id same-id, accepted here without the registry, is owned by node", StringComparison.Ordinal),
            $"{closer.NodeName} to give same-id up", Deadline);
        await kept.SendAsync(new byte[] { Pingreq << 4, 0 });
        Assert.Equal(Pingresp, (await kept.ReceiveAsync()).Type);
        Assert.False(kept.Closed.IsCompleted);
    }

    // QoS end to end across a receiving node's death, as far as persistence promises (issue 24 item 2): b keeps its
    // sessions on disk (persistence.sync = sync), so every QoS 1 message published on a whose PUBACK the publisher had
    // before b was SIGKILLed was on b's disk (a's PUBACK waits for b's acknowledgement, which waits for b's write) and
    // reaches b's persistent subscriber when b is back. The subscriber reads nothing before the kill: what b held for
    // it was all in flight or queued.
    [Fact]
    public async Task ReceivingNodeKilled_WithPersistenceSync_EveryMessagePubackedBeforeTheKill_DeliveredAfterRestart()
    {
        const int beforeKill = 150, total = 200;
        await using var nats = await NatsServers.StartAsync(3);
        await using var nodes = await StartOwningAsync(nats, 2, (i, o) =>
        {
            if (i == 1)
            {
                o["persistence"] = "on";
                o["persistence.sync"] = "sync";
            }
        });
        var (a, b) = (nodes[0], nodes[1]);
        var subscriber = await RawMqttClient.ConnectMqttAsync(b, ConnectPacket("kept-on-b", V5, cleanStart: false, sessionExpiry: 300));
        await subscriber.SendAsync(SubscribePacket(1, "durable/#", qos: 1, V5));
        await subscriber.ReceiveAsync(Suback);
        await UntilAsync(a, n => Routes(n, b) == 1, "a to hold b's route");

        var acknowledged = new List<int>();
        await using (var publisher = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("to-b", V5)))
        {
            for (var i = 1; i <= total; i++)
            {
                if (i == beforeKill + 1)
                    b.Signal("KILL"); // the stimulus: every PUBACK so far came before it
                await publisher.SendAsync(PublishPacket("durable/x", i.ToString(CultureInfo.InvariantCulture), 1, (ushort)i, V5));
                Assert.Equal(i, PacketId(await publisher.ReceiveAsync(Puback, TimeSpan.FromSeconds(30))));
                if (i <= beforeKill)
                    acknowledged.Add(i);
            }
        }
        await subscriber.DisposeAsync();

        await using var restarted = await b.RestartAsync(crash: true);
        await UntilAsync(a, n => Node(n, b.NodeName).GetProperty("node_status").GetString() == "running" && Routes(n, b) == 1, "a to hold the restarted b's route");
        await using var again = await RawMqttClient.ConnectAsync(restarted);
        await again.SendAsync(ConnectPacket("kept-on-b", V5, cleanStart: false, sessionExpiry: 300));
        var connack = await again.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((0, 1), (ConnackCode(connack), connack.Body[0] & 1)); // session present: from b's disk
        var missing = new List<int>(acknowledged);
        try
        {
            while (missing.Count > 0)
            {
                var publish = await again.ReceiveAsync(Publish, TimeSpan.FromSeconds(30));
                missing.Remove(int.Parse(ReadPublish(publish, V5).Payload, CultureInfo.InvariantCulture));
                var id = PacketId(publish);
                await again.SendAsync(Packet(0x40, [(byte)(id >> 8), (byte)id]));
            }
        }
        catch (TimeoutException)
        {
            Assert.Fail($"acknowledged before the kill and never delivered after the restart: {Describe(missing)}");
        }
    }

    // A split with adoption (issue 24 item 4: which side accepts what): c, cut off from NATS, keeps serving its connected
    // persistent client; the side with NATS finds c down, and a, its lowest-named running node, adopts that client's
    // session from the cluster's copy, so what is published there for it meanwhile queues on a. Healed, c finds the
    // client id owned by a and closes its connection (DISCONNECT 0x8E, Session taken over); the client connects to c
    // again and takes its session back from a: session present, and the message published during the split.
    [Fact]
    public async Task SplitNode_ItsPersistentClientAdoptedByTheOtherSide_HealedItsConnectionClosed_QueuedDeliveredOnReconnect()
    {
        await using var nats = await NatsServers.StartAsync(3, arguments: ["--no_advertise"]);
        await using var nodes = await StartOwningAsync(nats, 3, (i, o) =>
        {
            if (i == 2)
                o["cluster.nats.servers"] = nats.Url(2); // c's one link into NATS (see the test above)
        });
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);
        var onC = await RawMqttClient.ConnectMqttAsync(c, ConnectPacket("cut-off", V5, cleanStart: false, sessionExpiry: 300));
        await onC.SendAsync(SubscribePacket(1, "co/#", qos: 1, V5));
        await onC.ReceiveAsync(Suback);
        await UntilAsync(c, n => CopiesPending(n, c) == 0, "c to write the copy of cut-off's session");

        await nats.KillServerAsync(2);
        // When the killed server led JetStream's meta group or the sessions bucket, the other two elect new leaders
        // first (raft election timeouts of seconds each, more on a loaded machine), and the adoption's requests get
        // "No API response" until then: two full runs saw 15 s and more of it. The adoption retries; give it the time.
        await a.WaitForLogAsync(l => l.Contains("adopted 1 persistent session(s) of node c@127.0.0.1, which is down", StringComparison.Ordinal), "a to adopt cut-off's session", TimeSpan.FromSeconds(60));
        await UntilAsync(b, n => Routes(n, a) == 1, "b to route co/# to a");
        await MosquittoClients.PublishAsync(b, ["-q", "1", "-t", "co/1", "-m", "during the split"]);
        Assert.False(onC.Closed.IsCompleted); // c still serves it

        await nats.StartServerAsync(2);
        var closing = await onC.WaitForCloseAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(0x8E, ReasonCode(Assert.Single(closing, p => p.Type == Disconnect)));
        await onC.DisposeAsync();
        await using var again = await RawMqttClient.ConnectAsync(c);
        await again.SendAsync(ConnectPacket("cut-off", V5, cleanStart: false, sessionExpiry: 300));
        var connack = await again.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((0, 1), (ConnackCode(connack), connack.Body[0] & 1)); // session present [MQTT-3.2.2-2]
        var message = ReadPublish(await again.ReceiveAsync(Publish), V5);
        Assert.Equal(("co/1", "during the split"), (message.Topic, message.Payload));
        var sessions = (await ClientsAsync(a)).Where(s => s.GetProperty("clientid").GetString() == "cut-off").ToList();
        Assert.Equal("c@127.0.0.1", Assert.Single(sessions).GetProperty("node").GetString());
    }

    private static int Routes(System.Text.Json.JsonElement nodes, BrokerProcess node) => Node(nodes, node.NodeName).GetProperty("routes").GetInt32();

    /// <summary>The UTC time a broker log line was written (its first 23 characters).</summary>
    private static DateTime LogTime(string line) =>
        DateTime.ParseExact(line[..23], "yyyy-MM-dd HH:mm:ss.fff", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);

    /// <summary>Missing numbers as runs: "812-840, 1001".</summary>
    private static string Describe(List<int> missing)
    {
        if (missing.Count == 0)
            return "none";
        var runs = new List<string>();
        var start = missing[0];
        for (var i = 1; i <= missing.Count; i++)
        {
            if (i < missing.Count && missing[i] == missing[i - 1] + 1)
                continue;
            runs.Add(start == missing[i - 1] ? start.ToString(CultureInfo.InvariantCulture) : $"{start}-{missing[i - 1]}");
            if (i < missing.Count)
                start = missing[i];
        }
        return string.Join(", ", runs);
    }
}
