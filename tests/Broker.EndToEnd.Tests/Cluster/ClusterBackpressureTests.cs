using System.Diagnostics;
using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24, "no backpressure on the forward path", and QoS end to end across nodes: a QoS 1 message the broker
/// acknowledged is never lost (MQTT 5 §4.3.2 / 3.1.1 §4.3.2: with PUBACK the receiver takes ownership of the
/// message; here the receiver is the cluster), publishers faster than the receiving node wait rather than overflow
/// it, and the PUBACK waits until the node the message went to has it.
/// </summary>
public sealed class ClusterBackpressureTests
{
    // Paho publishers (a client nobody on this project wrote), each with 50 QoS 1 messages in flight, as fast as they
    // can, on node a; one mosquitto_sub on node b takes them all. cluster.max_forward_queue = 200 (high mark 20), so the
    // forward queue is past its high mark most of the time: publishers must wait, and nothing may be refused for it.
    [Fact]
    public async Task ManyQos1PublishersAsFastAsTheyCan_AcrossNodes_NothingLost_InOrderPerPublisher()
    {
        const int publishers = 8, count = 4000;
        await using var nats = await NatsServers.StartAsync(3);
        await using var started = await ClusterHarness.StartAsync(2, nats, (_, o) => o["cluster.max_forward_queue"] = "200");
        var (a, b) = (started[0], started[1]);
        await using var sub = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "flood/#", "-i", "flood-sub");
        await UntilAsync(a, n => Node(n, "b@127.0.0.1").GetProperty("routes").GetInt32() == 1, "a to hold b's route");

        await using var flood = Interop.StartPaho("cluster_flood.py", a, new { publishers, count, inflight = 50, topic = "flood" });
        var result = await Interop.ResultAsync(flood, TimeSpan.FromSeconds(150));
        TestContext.Current.TestOutputHelper?.WriteLine(result.ToString());
        Assert.Equal(publishers * count, result.GetProperty("acked").GetInt32());

        // Every PUBACKed message is on b, each publisher's in the order sent (MQTT 5 §4.6: ordered per topic for QoS 1).
        var received = await MosquittoClients.MessagesAsync(sub, publishers * count, TimeSpan.FromSeconds(60));
        var next = new int[publishers];
        foreach (var message in received)
        {
            var parts = message.Payload.Split(':');
            var (publisher, n) = (int.Parse(parts[0], CultureInfo.InvariantCulture), int.Parse(parts[1], CultureInfo.InvariantCulture));
            Assert.True(n == next[publisher], $"publisher {publisher}: {n} after {next[publisher] - 1}");
            next[publisher]++;
        }
        Assert.All(next, n => Assert.Equal(count, n));
        var self = Self(await NodesAsync(a));
        Assert.Equal(0, self.GetProperty("forward_dropped").GetInt64());
        Assert.DoesNotContain("is down", a.Transcript, StringComparison.Ordinal);
        Assert.DoesNotContain("is down", b.Transcript, StringComparison.Ordinal);
        Assert.DoesNotContain("NATS dropped", b.Transcript, StringComparison.Ordinal);
    }

    // The publisher's PUBACK waits for the receiving node: frozen (SIGSTOP) it cannot have the message, so no PUBACK
    // until it runs again (SIGCONT); frozen past cluster.node_timeout, it is found down and the PUBACK comes then
    // (the message reached every other node it was for), rather than never.
    [Fact]
    public async Task Qos1Puback_WaitsForTheReceivingNode_UntilItResumes_OrIsFoundDown()
    {
        await using var nats = await NatsServers.StartAsync(3);
        // A node timeout well above what starting a process takes on a busy machine, so "frozen for less" is less.
        await using var started = await ClusterHarness.StartAsync(2, nats, (_, o) => o["cluster.node_timeout"] = "6s");
        var (a, b) = (started[0], started[1]);
        await using var sub = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "frozen/#", "-i", "sub-frozen");
        await UntilAsync(a, n => Node(n, "b@127.0.0.1").GetProperty("routes").GetInt32() == 1, "a to hold b's route");
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "frozen/0", "-m", "warm"]);
        Assert.Equal("warm", (await MosquittoClients.MessagesAsync(sub, 1))[0].Payload);

        // Frozen for less than the node timeout: no PUBACK while it is stopped, the PUBACK and the message once it runs.
        // Connected before b is frozen (a CONNECT may ask the other nodes about its client id), publishing after.
        var pub = await ConnectedPublisherAsync(a, "frozen/1", "pub-frozen");
        var frozen = Stopwatch.StartNew();
        b.Signal("STOP");
        try
        {
            await pub.StandardInput.WriteLineAsync("while-stopped");
            await pub.StandardInput.FlushAsync(TestContext.Current.CancellationToken);
            await pub.WaitForLineAsync(l => l.Contains("sending PUBLISH", StringComparison.Ordinal), Deadline, "mosquitto_pub's PUBLISH");
            // A window to see nothing happen in: the node is stopped, so nothing can acknowledge the message.
            await Task.Delay(TimeSpan.FromMilliseconds(800), TestContext.Current.CancellationToken);
            Assert.DoesNotContain(pub.StdoutLines, l => l.Contains("received PUBACK", StringComparison.Ordinal));
            Assert.True(frozen.Elapsed < TimeSpan.FromSeconds(5), $"frozen {frozen.Elapsed.TotalSeconds} s: too close to the node timeout to tell");
        }
        finally
        {
            b.Signal("CONT");
        }
        await using (pub)
        {
            await pub.WaitForLineAsync(l => l.Contains("received PUBACK", StringComparison.Ordinal), Deadline, "the PUBACK after SIGCONT");
            pub.StandardInput.Close();
            Assert.Equal(0, await pub.WaitForExitAsync(Deadline));
        }
        Assert.Equal("while-stopped", (await MosquittoClients.MessagesAsync(sub, 2))[1].Payload);
        Assert.DoesNotContain("node b@127.0.0.1 is down", a.Transcript, StringComparison.Ordinal);

        // Frozen past the node timeout: the PUBACK comes when a finds b down, not before.
        await using var late = await ConnectedPublisherAsync(a, "frozen/2", "pub-down");
        frozen.Restart();
        b.Signal("STOP");
        try
        {
            await late.StandardInput.WriteLineAsync("while-down");
            await late.StandardInput.FlushAsync(TestContext.Current.CancellationToken);
            await late.WaitForLineAsync(l => l.Contains("received PUBACK", StringComparison.Ordinal), Deadline, "the PUBACK once b is down");
            frozen.Stop();
            TestContext.Current.TestOutputHelper?.WriteLine($"PUBACK {frozen.Elapsed.TotalMilliseconds:0} ms after b was frozen (node timeout 6 s)");
            Assert.True(frozen.Elapsed > TimeSpan.FromSeconds(4), $"PUBACK {frozen.Elapsed.TotalMilliseconds} ms after b was frozen: before it could be found down");
            await a.WaitForLogAsync(l => l.Contains("node b@127.0.0.1 is down", StringComparison.Ordinal), "a to find b down", Deadline);
            await a.WaitForLogAsync(l => l.Contains("to node b@127.0.0.1 were not acknowledged before it went (down)", StringComparison.Ordinal),
                "a to say it released the forward", Deadline);
            Assert.True(Self(await NodesAsync(a)).GetProperty("forward_released").GetInt64() >= 1, "forward_released counts it");
        }
        finally
        {
            b.Signal("CONT");
        }

        // b runs again: it is met again and messages cross again, acknowledged as before.
        await UntilAsync(a, n => Node(n, "b@127.0.0.1").GetProperty("node_status").GetString() == "running"
            && Node(n, "b@127.0.0.1").GetProperty("routes").GetInt32() == 1, "a to hold b's route again");
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "frozen/3", "-m", "after"]);
        await sub.WaitForLineAsync(l => l.Contains("after", StringComparison.Ordinal), Deadline, "the message after b is back");
    }

    // Fairness on the receiving node: a subscriber on b that stops acknowledging (window 1, queue 10) is behind once
    // its queue is more than half full; a publisher on b would then wait for it, up to session.backpressure_timeout
    // (30 s here). Forwards from a are not held up behind it: those after the message that left it behind are queued
    // for it at once, a message for another subscriber on b is delivered and acknowledged at once, and only the
    // laggard's publisher waits: its PUBACK for that message (and, in order [MQTT-4.6.0-2], the ones after it) comes
    // when the laggard reads again, which it then does in order. cluster.node_timeout is 10 s, so nothing here is
    // acknowledged because a node was given up on.
    [Fact]
    public async Task SubscriberBehindOnReceivingNode_OthersServedAtOnce_OnlyItsPublisherWaits()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(2, nats, (_, o) =>
        {
            o["session.max_inflight"] = "1";
            o["session.max_mqueue_len"] = "10";
            o["session.backpressure_timeout"] = "30s";
            o["session.slow_subscriber_timeout"] = "60s";
            o["cluster.node_timeout"] = "10s";
        });
        var (a, b) = (started[0], started[1]);
        await using var laggard = await RawMqttClient.ConnectMqttAsync(b, MqttBytes.ConnectPacket("laggard", MqttBytes.V5));
        await laggard.SendAsync(MqttBytes.SubscribePacket(1, "lag/#", qos: 1, MqttBytes.V5));
        await laggard.ReceiveAsync(MqttBytes.Suback);
        await using var brisk = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "brisk/#", "-i", "brisk");
        await UntilAsync(a, n => Node(n, "b@127.0.0.1").GetProperty("routes").GetInt32() == 2, "a to hold b's two routes");

        // Ten from a: one in flight to the laggard, nine queued; the seventh leaves it more than half full.
        await using var publisher = await RawMqttClient.ConnectMqttAsync(a, MqttBytes.ConnectPacket("lag-pub", MqttBytes.V5));
        for (ushort i = 1; i <= 10; i++)
            await publisher.SendAsync(MqttBytes.PublishPacket("lag/x", i.ToString(CultureInfo.InvariantCulture), 1, i, MqttBytes.V5));
        for (var i = 1; i <= 6; i++)
            Assert.Equal(i, MqttBytes.PacketId(await publisher.ReceiveAsync(MqttBytes.Puback)));
        var laterPubacks = Task.Run(async () =>
        {
            var times = new List<(int Id, long At)>();
            for (var i = 7; i <= 10; i++)
                times.Add((MqttBytes.PacketId(await publisher.ReceiveAsync(MqttBytes.Puback, TimeSpan.FromSeconds(60))), Stopwatch.GetTimestamp()));
            return times;
        });
        await UntilQueuedAsync(b, "laggard", 9);

        var sent = Stopwatch.StartNew();
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "brisk/x", "-m", "not held up"]); // returns after its PUBACK
        Assert.Equal("not held up", (await MosquittoClients.MessagesAsync(brisk, 1))[0].Payload);
        sent.Stop();
        TestContext.Current.TestOutputHelper?.WriteLine($"another subscriber's message on b: {sent.Elapsed.TotalMilliseconds:0} ms from mosquitto_pub's start to its PUBACK and delivery");
        Assert.True(sent.Elapsed < TimeSpan.FromSeconds(5), $"{sent.Elapsed.TotalSeconds} s: held up behind the laggard");

        var reading = Stopwatch.GetTimestamp();
        for (var i = 1; i <= 10; i++)
        {
            var publish = await laggard.ReceiveAsync(MqttBytes.Publish);
            Assert.Equal(i.ToString(CultureInfo.InvariantCulture), MqttBytes.ReadPublish(publish, MqttBytes.V5).Payload);
            var id = MqttBytes.PacketId(publish);
            await laggard.SendAsync(MqttBytes.Packet(0x40, [(byte)(id >> 8), (byte)id]));
        }
        var pubacks = await laterPubacks;
        Assert.Equal([7, 8, 9, 10], pubacks.Select(p => p.Id));
        Assert.True(pubacks[0].At > reading, "the PUBACK of the message that left the laggard behind came before it read again");
        Assert.DoesNotContain("NATS dropped", b.Transcript, StringComparison.Ordinal);
    }

    /// <summary>mosquitto_pub -l, QoS 1, connected: each line written to it is one PUBLISH.</summary>
    private static async Task<ChildProcess> ConnectedPublisherAsync(BrokerProcess broker, string topic, string clientId)
    {
        // stdbuf -oL: its debug lines (CONNACK, PUBACK) are otherwise block-buffered into the pipe until it exits.
        var pub = ChildProcess.Start(Tools.Require("stdbuf", "coreutils"),
            ["-oL", Tools.Require("mosquitto_pub", "mosquitto-clients"), "-h", broker.Host, "-p", broker.Port.ToString(CultureInfo.InvariantCulture), "-d", "-q", "1", "-t", topic, "-i", clientId, "-l"],
            redirectStdin: true);
        await pub.WaitForLineAsync(l => l.Contains("received CONNACK", StringComparison.Ordinal), Deadline, "mosquitto_pub's CONNACK");
        return pub;
    }
}
