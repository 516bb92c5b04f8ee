using System.Diagnostics;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24 item 3, sessions across nodes: a client id is owned by one node at a time (a JetStream key-value registry,
/// compare-and-set), a CONNECT on another node takes the connection over (DISCONNECT 0x8E) and moves the persistent
/// session there (subscriptions, in-flight and queued messages), and a dead owner is not waited for. Three broker nodes
/// over one NATS server with JetStream (no test here stops a NATS server; over a fresh three-server cluster each node's
/// first bucket creation often went unanswered, which costs a retry; ClusterTests and ClusterFailureTests keep three);
/// the client side is the raw client, for wire precision.
/// </summary>
public sealed class ClusterOwnershipTests
{
    private const uint Expiry = 300;

    [Fact]
    public async Task Connect_OnAnotherNode_TakesOverConnectionAndSession_InflightRedeliveredWithDup_QueuedDelivered()
    {
        await using var nats = await NatsServers.StartAsync(1);
        // A window of 2: of three unacknowledged QoS 1 messages, two are in flight and one queued when the client moves.
        await using var nodes = await StartOwningAsync(nats, 3, (_, o) => o["session.max_inflight"] = "2");
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);

        await using var onA = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("mover", V5, cleanStart: false, sessionExpiry: Expiry));
        await onA.SendAsync(SubscribePacket(1, "mv/#", qos: 1, V5));
        Assert.Equal(Suback, (await onA.ReceiveAsync(Suback)).Type);
        await UntilAsync(c, n => Node(n, "a@127.0.0.1").GetProperty("routes").GetInt32() == 1, "c to hold a's route");

        // Published on c, received on a and never acknowledged: m1 and m2 in flight, m3 queued.
        foreach (var m in new[] { "m1", "m2", "m3" })
            await MosquittoClients.PublishAsync(c, ["-q", "1", "-t", "mv/x", "-m", m]);
        Assert.Equal("m1", ReadPublish(await onA.ReceiveAsync(Publish), V5).Payload);
        Assert.Equal("m2", ReadPublish(await onA.ReceiveAsync(Publish), V5).Payload);

        // The same client id on b: a's connection gets DISCONNECT 0x8E, b's CONNACK says the session is there.
        var moving = Stopwatch.StartNew();
        await using var onB = await RawMqttClient.ConnectAsync(b);
        await onB.SendAsync(ConnectPacket("mover", V5, cleanStart: false, sessionExpiry: Expiry));
        var connack = await onB.ReceiveAsync();
        moving.Stop();
        Assert.Equal(0, ConnackCode(connack));
        Assert.Equal(1, connack.Body[0] & 1); // session present
        TestContext.Current.TestOutputHelper?.WriteLine($"cross-node takeover: CONNACK on b {moving.Elapsed.TotalMilliseconds:0.0} ms after CONNECT");

        var closing = await onA.WaitForCloseAsync();
        var disconnect = Assert.Single(closing, p => p.Type == Disconnect);
        Assert.Equal(0x8E, ReasonCode(disconnect));
        Assert.DoesNotContain(closing, p => p.Type == Publish);

        // In flight: sent again with DUP and their packet ids; then the queued one, new.
        var again1 = await onB.ReceiveAsync(Publish);
        var again2 = await onB.ReceiveAsync(Publish);
        Assert.Equal(("m1", true), (ReadPublish(again1, V5).Payload, (again1.Flags & 0x08) != 0));
        Assert.Equal(("m2", true), (ReadPublish(again2, V5).Payload, (again2.Flags & 0x08) != 0));
        await onB.SendAsync(Packet(0x40, [(byte)(PacketId(again1) >> 8), (byte)PacketId(again1)]));
        await onB.SendAsync(Packet(0x40, [(byte)(PacketId(again2) >> 8), (byte)PacketId(again2)]));
        var queued = await onB.ReceiveAsync(Publish);
        Assert.Equal(("m3", false), (ReadPublish(queued, V5).Payload, (queued.Flags & 0x08) != 0));
        await onB.SendAsync(Packet(0x40, [(byte)(PacketId(queued) >> 8), (byte)PacketId(queued)]));

        // The subscription moved with the session: c routes mv/# to b now (and a has no route left), and a message
        // published on c arrives on b.
        await UntilAsync(c, n => Node(n, "b@127.0.0.1").GetProperty("routes").GetInt32() == 1
            && Node(n, "a@127.0.0.1").GetProperty("routes").GetInt32() == 0, "c to route mv/# to b only");
        await MosquittoClients.PublishAsync(c, ["-q", "1", "-t", "mv/y", "-m", "m4"]);
        Assert.Equal("m4", ReadPublish(await onB.ReceiveAsync(Publish), V5).Payload);
        // One session of the client id in the whole cluster, on b.
        var sessions = (await ClientsAsync(a)).Where(s => s.GetProperty("clientid").GetString() == "mover").ToList();
        Assert.Equal("b@127.0.0.1", Assert.Single(sessions).GetProperty("node").GetString());
    }

    [Fact]
    public async Task Connect_OnAnotherNode_OfflineSession_QueuedMessagesMove_CleanStartDiscardsEverywhere()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await StartOwningAsync(nats, 3);
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);

        // Subscribe on a, go offline (the session stays on a), messages queue there.
        await using (var first = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("wanderer", V5, cleanStart: false, sessionExpiry: Expiry)))
        {
            await first.SendAsync(SubscribePacket(1, "wd/#", qos: 1, V5));
            await first.ReceiveAsync(Suback);
            await first.SendAsync(DisconnectPacket(V5));
            await first.WaitForCloseAsync();
        }
        await UntilAsync(c, n => Node(n, "a@127.0.0.1").GetProperty("routes").GetInt32() == 1, "c to hold a's route");
        await MosquittoClients.PublishAsync(c, ["-q", "1", "-t", "wd/1", "-m", "while-away"]);
        await UntilQueuedAsync(a, "wanderer", 1);

        // Back on b: the session comes along with the queued message.
        await using (var second = await RawMqttClient.ConnectAsync(b))
        {
            await second.SendAsync(ConnectPacket("wanderer", V5, cleanStart: false, sessionExpiry: Expiry));
            var connack = await second.ReceiveAsync();
            Assert.Equal((0, 1), (ConnackCode(connack), connack.Body[0] & 1));
            var message = await second.ReceiveAsync(Publish);
            Assert.Equal("while-away", ReadPublish(message, V5).Payload);
            await second.SendAsync(Packet(0x40, [(byte)(PacketId(message) >> 8), (byte)PacketId(message)]));
            await second.SendAsync(DisconnectPacket(V5));
            await second.WaitForCloseAsync();
        }

        // A clean start on c discards it everywhere: no session present there, and none on b afterwards either.
        await using (var clean = await RawMqttClient.ConnectAsync(c))
        {
            await clean.SendAsync(ConnectPacket("wanderer", V5, cleanStart: true));
            var connack = await clean.ReceiveAsync();
            Assert.Equal((0, 0), (ConnackCode(connack), connack.Body[0] & 1));
        }
        await using var last = await RawMqttClient.ConnectAsync(b);
        await last.SendAsync(ConnectPacket("wanderer", V5, cleanStart: false, sessionExpiry: Expiry));
        var lastAck = await last.ReceiveAsync();
        Assert.Equal((0, 0), (ConnackCode(lastAck), lastAck.Body[0] & 1));
    }

    [Fact]
    public async Task ConnectRace_SameClientIdOnTwoNodes_ExactlyOneStaysConnected_EveryRound()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await StartOwningAsync(nats, 2);
        var (a, b) = (nodes[0], nodes[1]);

        const int rounds = 20;
        var elapsed = Stopwatch.StartNew();
        var firstWon = 0;
        for (var round = 0; round < rounds; round++)
        {
            var id = "racer-" + round;
            var persistent = round % 2 == 1; // clean and persistent sessions alike
            await using var onA = await RawMqttClient.ConnectAsync(a);
            await using var onB = await RawMqttClient.ConnectAsync(b);
            var connect = ConnectPacket(id, V5, cleanStart: !persistent, sessionExpiry: persistent ? Expiry : null);
            await Task.WhenAll(onA.SendAsync(connect), onB.SendAsync(connect));

            // Each either gets its CONNACK or is closed; a claim completes only once the previous owner let go, so by the
            // time both have answered, the loser is closed or closing.
            var results = await Task.WhenAll(Outcome(onA), Outcome(onB));
            var open = new List<RawMqttClient>();
            foreach (var (client, accepted) in new[] { (onA, results[0]), (onB, results[1]) })
            {
                if (accepted && !client.Closed.IsCompleted && !await ClosedWithinAsync(client, TimeSpan.FromMilliseconds(150)))
                    open.Add(client);
            }
            Assert.True(open.Count == 1, $"round {round}: {open.Count} connections of {id} stayed open (a accepted: {results[0]}, b: {results[1]})");
            // The one left is really served: it answers a PINGREQ.
            await open[0].SendAsync(new byte[] { 0xC0, 0x00 });
            Assert.Equal(Pingresp, (await open[0].ReceiveAsync(Pingresp)).Type);
            if (open[0] == onA)
                firstWon++;
        }
        elapsed.Stop();
        TestContext.Current.TestOutputHelper?.WriteLine($"connect race: {rounds} rounds, exactly one connected each; a won {firstWon}, b {rounds - firstWon}; {elapsed.Elapsed.TotalMilliseconds / rounds:0.0} ms per round");

        static async Task<bool> Outcome(RawMqttClient client)
        {
            var packet = await client.ReceiveOrCloseAsync(TimeSpan.FromSeconds(10));
            return packet is { Type: Connack } && packet.Body[1] == 0;
        }

        static async Task<bool> ClosedWithinAsync(RawMqttClient client, TimeSpan wait)
        {
            try
            {
                await client.Closed.WaitAsync(wait, TestContext.Current.CancellationToken);
                return true;
            }
            catch (TimeoutException)
            {
                return false;
            }
        }
    }

    // Issue 24 item 4: a node killed with SIGKILL costs the others nothing but its own clients, who reconnect to another
    // node and resume their persistent sessions where the session state allows. Without persistence the dead node's
    // in-flight and queued messages die with it; the cluster's copy of the session (its subscriptions) does not.
    [Fact]
    public async Task OwnerKilled_ClientReconnectsToAnotherNode_AcceptedPromptly_SessionResumedWithItsSubscriptions()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await StartOwningAsync(nats, 3);
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);

        var onA = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("survivor", V5, cleanStart: false, sessionExpiry: Expiry));
        await onA.SendAsync(SubscribePacket(1, "sv/#", qos: 1, V5));
        await onA.ReceiveAsync(Suback);
        await onA.SendAsync(SubscribePacket(2, "zero/+", qos: 0, V5));
        await onA.ReceiveAsync(Suback);
        // The copy is written in the background, a moment after the SUBACK.
        await UntilAsync(a, n => CopiesPending(n, a) == 0, "a to write the copy of survivor's session");

        // a dies; the client reconnects to b at once, as a client with a list of servers does.
        var killed = Stopwatch.StartNew();
        a.Signal("KILL");
        await onA.WaitForCloseAsync();
        await onA.DisposeAsync();
        await using var onB = await RawMqttClient.ConnectAsync(b);
        await onB.SendAsync(ConnectPacket("survivor", V5, cleanStart: false, sessionExpiry: Expiry));
        var connack = await onB.ReceiveAsync(TimeSpan.FromSeconds(10));
        killed.Stop();
        TestContext.Current.TestOutputHelper?.WriteLine($"owner killed: client accepted on b {killed.Elapsed.TotalMilliseconds:0} ms after SIGKILL");
        Assert.Equal(0, ConnackCode(connack));
        Assert.Equal(1, connack.Body[0] & 1); // session present [MQTT-3.2.2-2]: the cluster's copy, resumed
        // Bounded by the node timeout (1 s), not by TCP or NATS' ping timeouts.
        Assert.True(killed.Elapsed < TimeSpan.FromSeconds(2), $"accepted only {killed.Elapsed.TotalMilliseconds} ms after the owner died");
        await b.WaitForLogAsync(l => l.Contains("client id survivor resumes the cluster's copy of its session", StringComparison.Ordinal), "b to use the copy");

        // Its subscriptions came with it, each with its QoS: no SUBSCRIBE on b.
        await MosquittoClients.PublishAsync(b, ["-q", "1", "-t", "sv/1", "-m", "alive"]);
        var alive = await onB.ReceiveAsync(Publish);
        Assert.Equal(("sv/1", "alive", 1), (ReadPublish(alive, V5).Topic, ReadPublish(alive, V5).Payload, (alive.Flags >> 1) & 3));
        await onB.SendAsync(Packet(0x40, [(byte)(PacketId(alive) >> 8), (byte)PacketId(alive)]));
        await MosquittoClients.PublishAsync(b, ["-q", "1", "-t", "zero/x", "-m", "downgraded"]);
        var zero = await onB.ReceiveAsync(Publish);
        Assert.Equal(("zero/x", 0), (ReadPublish(zero, V5).Topic, (zero.Flags >> 1) & 3));

        // A clean start with expiry 0 ends the session, and its copy with it: after b's death too, c has nothing to
        // resume.
        await onB.SendAsync(DisconnectPacket(V5));
        await onB.WaitForCloseAsync();
        await using (var clean = await RawMqttClient.ConnectMqttAsync(b, ConnectPacket("survivor", V5, cleanStart: true, sessionExpiry: 0)))
        {
            await clean.SendAsync(DisconnectPacket(V5));
            await clean.WaitForCloseAsync();
        }
        await UntilAsync(b, n => CopiesPending(n, b) == 0, "b to delete the copy of survivor's session");
        b.Signal("KILL");
        await UntilAsync(c, n => Node(n, "b@127.0.0.1").GetProperty("node_status").GetString() == "down", "c to find b down");
        await using var onC = await RawMqttClient.ConnectAsync(c);
        await onC.SendAsync(ConnectPacket("survivor", V5, cleanStart: false, sessionExpiry: Expiry));
        var fresh = await onC.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, ConnackCode(fresh));
        Assert.Equal(0, fresh.Body[0] & 1); // no session present: the ended session's copy is gone
    }

    // A node with persistence = on brings its sessions back from disk when it restarts; one whose client resumed on
    // another node meanwhile is that node's now: the restarted node drops its stale copy (no second session queuing
    // the same messages, no second route), and hands what it held for the client, accepted and acknowledged to the
    // publisher before the kill, to the owner's session: delivered there, in order.
    [Fact]
    public async Task OwnerKilledWithPersistence_ClientMovedMeanwhile_RestartedNodeHandsWhatItHeldToTheOwner()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var a = await StartNodeAsync("a", nats, 0, o =>
        {
            o["persistence"] = "on";
            o["persistence.sync"] = "sync";
        });
        await using var b = await StartNodeAsync("b", nats, 1);
        await WaitJoinedAsync(a, b);
        await WaitRegistryAsync(a, b);

        var onA = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("stored", V5, cleanStart: false, sessionExpiry: Expiry));
        await onA.SendAsync(SubscribePacket(1, "ps/#", qos: 1, V5));
        await onA.ReceiveAsync(Suback);
        await UntilAsync(a, n => CopiesPending(n, a) == 0, "a to write the copy of stored's session");
        // Three QoS 1 messages PUBACKed to their publisher, on disk on a (persistence.sync = sync), sent to the client and
        // not acknowledged by it (in flight) when a is killed.
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "ps/held"], ["held-1", "held-2", "held-3"]);
        foreach (var sent in new[] { "held-1", "held-2", "held-3" })
            Assert.Equal(sent, ReadPublish(await onA.ReceiveAsync(Publish), V5).Payload);

        RawMqttClient? onB = null;
        await using var restarted = await a.RestartAsync(crash: true, whileDown: async () =>
        {
            await onA.DisposeAsync();
            onB = await RawMqttClient.ConnectAsync(b);
            await onB.SendAsync(ConnectPacket("stored", V5, cleanStart: false, sessionExpiry: Expiry));
            var connack = await onB.ReceiveAsync(TimeSpan.FromSeconds(10));
            Assert.Equal((0, 1), (ConnackCode(connack), connack.Body[0] & 1)); // resumed on b from the cluster's copy
        });
        await using var client = onB!;

        await restarted.WaitForLogAsync(l => l.Contains("client id stored, accepted here without the registry, is owned by node b@127.0.0.1", StringComparison.Ordinal),
            "the restarted a to give up its stored session", Deadline);
        await UntilAsync(restarted, n => Node(n, "a@127.0.0.1").GetProperty("routes").GetInt32() == 0, "a to withdraw the stale session's route");
        var sessions = (await ClientsAsync(restarted)).Where(s => s.GetProperty("clientid").GetString() == "stored").ToList();
        Assert.Equal("b@127.0.0.1", Assert.Single(sessions).GetProperty("node").GetString());

        // What a held comes to b, in order (again: the client never acknowledged them; at least once).
        await restarted.WaitForLogAsync(l => l.Contains("3 message(s) this node held for client id stored handed to node b@127.0.0.1", StringComparison.Ordinal),
            "the restarted a to hand what it held to b", Deadline);
        foreach (var expected in new[] { "held-1", "held-2", "held-3" })
        {
            var held = await client.ReceiveAsync(Publish);
            Assert.Equal(expected, ReadPublish(held, V5).Payload);
            await client.SendAsync(Packet(0x40, [(byte)(PacketId(held) >> 8), (byte)PacketId(held)]));
        }

        // Published on the restarted a: delivered on b (a holds no session for it).
        await MosquittoClients.PublishAsync(restarted, ["-q", "1", "-t", "ps/1", "-m", "once"]);
        var message = await client.ReceiveAsync(Publish);
        Assert.Equal("once", ReadPublish(message, V5).Payload);
        await client.SendAsync(Packet(0x40, [(byte)(PacketId(message) >> 8), (byte)PacketId(message)]));
    }

    // Issue 24 item 4, what is published for a dead node's client while it is away: the lowest-named running node
    // adopts the dead node's persistent sessions from their copies, so messages queue there; the client's CONNECT on any
    // node takes the session over from it, with them (numbered, in order, nothing lost).
    [Fact]
    public async Task OwnerKilled_LowestRunningNodeAdoptsItsSessions_MessagesPublishedWhileAwayDeliveredOnReconnectElsewhere()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await StartOwningAsync(nats, 3);
        var (a, b, c) = (nodes[0], nodes[1], nodes[2]);

        var onA = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("away", V5, cleanStart: false, sessionExpiry: Expiry));
        await onA.SendAsync(SubscribePacket(1, "aw/#", qos: 1, V5));
        await onA.ReceiveAsync(Suback);
        await UntilAsync(a, n => CopiesPending(n, a) == 0, "a to write the copy of away's session");

        a.Signal("KILL");
        await onA.WaitForCloseAsync();
        await onA.DisposeAsync();
        await b.WaitForLogAsync(l => l.Contains("adopted 1 persistent session(s) of node a@127.0.0.1, which is down", StringComparison.Ordinal), "b to adopt away's session", Deadline);
        await UntilAsync(c, n => Node(n, "b@127.0.0.1").GetProperty("routes").GetInt32() == 1, "c to hold the adopted session's route on b");

        // Published on c while the client is away: queued on b.
        for (var i = 1; i <= 3; i++)
            await MosquittoClients.PublishAsync(c, ["-q", "1", "-t", "aw/" + i, "-m", "m" + i]);
        await UntilQueuedAsync(b, "away", 3);

        // The client comes back on c: the session moves from b with the three messages [MQTT-3.2.2-2, MQTT-4.6.0-6].
        await using var onC = await RawMqttClient.ConnectAsync(c);
        await onC.SendAsync(ConnectPacket("away", V5, cleanStart: false, sessionExpiry: Expiry));
        var connack = await onC.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((0, 1), (ConnackCode(connack), connack.Body[0] & 1));
        var received = new List<string>();
        for (var i = 1; i <= 3; i++)
        {
            var message = await onC.ReceiveAsync(Publish);
            received.Add(ReadPublish(message, V5).Payload);
            await onC.SendAsync(Packet(0x40, [(byte)(PacketId(message) >> 8), (byte)PacketId(message)]));
        }
        Assert.Equal(["m1", "m2", "m3"], received);
    }

    // A session made while its node had left the cluster has no copy in the cluster: it is written when the node joins
    // again (once its client id is claimed there), so the session survives that node's death too.
    [Fact]
    public async Task SessionMadeWhileLeft_CopyWrittenOnJoin_ResumedOnAnotherNodeAfterItsDeath()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await StartOwningAsync(nats, 2);
        var (a, b) = (nodes[0], nodes[1]);

        var leave = await CtlRunner.RunAsync(a, "cluster", "leave");
        Assert.True(leave.ExitCode == 0, leave.Transcript);
        await using (var alone = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("kept", V5, cleanStart: false, sessionExpiry: Expiry)))
        {
            await alone.SendAsync(SubscribePacket(1, "kept/#", qos: 1, V5));
            await alone.ReceiveAsync(Suback);
            await alone.SendAsync(DisconnectPacket(V5));
            await alone.WaitForCloseAsync();
        }

        var join = await CtlRunner.RunAsync(a, "cluster", "join", nats.Url(0));
        Assert.True(join.ExitCode == 0, join.Transcript);
        // b hears a again only after a's NATS connection opened, which is when a puts its sessions up for checking.
        await UntilAsync(b, n => Node(n, "a@127.0.0.1").GetProperty("node_status").GetString() == "running", "b to hear a again");
        await UntilAsync(a, n => CopiesPending(n, a) == 0, "a to claim kept and write its session's copy");

        a.Signal("KILL");
        await using var onB = await RawMqttClient.ConnectAsync(b);
        await onB.SendAsync(ConnectPacket("kept", V5, cleanStart: false, sessionExpiry: Expiry));
        var connack = await onB.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((0, 1), (ConnackCode(connack), connack.Body[0] & 1)); // session present [MQTT-3.2.2-2]: the copy
        await MosquittoClients.PublishAsync(b, ["-q", "1", "-t", "kept/1", "-m", "still"]);
        var message = await onB.ReceiveAsync(Publish);
        Assert.Equal(("kept/1", "still"), (ReadPublish(message, V5).Topic, ReadPublish(message, V5).Payload));
    }
}
