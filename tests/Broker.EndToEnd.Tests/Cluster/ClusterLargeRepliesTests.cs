using System.Globalization;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// What one node asks another for is not bounded by NATS' <c>max_payload</c> (1 MB by default): a route table of 40,000
/// filters (about 1.7 MB) reaches a node started after them, a page of <c>/subscriptions</c> over 1 MB comes back
/// whole, and a persistent session with 1.5 MB of queued messages moves to another node with every message (each
/// failed before: the new node never synced the routes, the page was an error in <c>node_errors</c>, and the session
/// moved without its messages). The cluster's copy of a session is a key-value entry, one NATS message: over that it
/// is not written, and said so.
/// </summary>
public sealed class ClusterLargeRepliesTests
{
    private const int Filters = 40_000;

    private static string Filter(int i) => "large-route-table/" + i.ToString("D6", CultureInfo.InvariantCulture) + "/some/deeper/level/+";

    [Fact]
    public async Task RouteTableOver1MB_ReachesANodeStartedLater_ItRoutesToTheLastFilter_AndListsEverySubscription()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await ClusterHarness.StartAsync(1, nats);
        var a = nodes[0];
        // Four clients (clean start: no session copies) of 10,000 distinct filters each (mqtt.max_subscriptions), 500
        // per SUBSCRIBE.
        var subscribers = new List<RawMqttClient>();
        for (var first = 0; first < Filters; first += 500)
        {
            if (first % 10_000 == 0)
                subscribers.Add(await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("many-filters-" + subscribers.Count, V5, cleanStart: true)));
            await subscribers[^1].SendAsync(SubscribePacket((ushort)(1 + first / 500), Enumerable.Range(first, 500).Select(Filter), qos: 1, V5));
            Assert.All(SubackCodes(await subscribers[^1].ReceiveAsync(Suback), V5), code => Assert.Equal(1, code));
        }

        // b meets a after the routes were made: it has them only from a's snapshot.
        await using var b = await StartNodeAsync("b", nats, 0);
        await WaitJoinedAsync(a, b);
        await UntilAsync(b, n => Node(n, a.NodeName).GetProperty("routes").GetInt32() == Filters, "b to hold a's 40,000 routes");
        Assert.DoesNotContain("no route snapshot", b.Transcript, StringComparison.Ordinal);

        await MosquittoClients.PublishAsync(b, ["-q", "1", "-t", "large-route-table/039999/some/deeper/level/x", "-m", "to the last filter"]);
        var message = ReadPublish(await subscribers[^1].ReceiveAsync(Publish), V5);
        Assert.Equal(("large-route-table/039999/some/deeper/level/x", "to the last filter"), (message.Topic, message.Payload));

        // b's /subscriptions, 10,000 a page (the API's most), each page about 1.1 MB of JSON from a over NATS.
        using var http = b.CreateManagementClient();
        var topics = new HashSet<string?>();
        for (var number = 1; number <= Filters / 10_000; number++)
        {
            var json = await http.GetStringAsync($"api/v4/subscriptions?_page={number}&_limit=10000", TestContext.Current.CancellationToken);
            var page = JsonDocument.Parse(json).RootElement;
            Assert.False(page.TryGetProperty("node_errors", out var errors) && errors.EnumerateObject().Any(), json[..Math.Min(2000, json.Length)]);
            topics.UnionWith(page.GetProperty("data").EnumerateArray().Select(s => s.GetProperty("topic").GetString()));
        }
        Assert.Equal(Filters, topics.Count);
        Assert.Contains(Filter(0), topics);
        Assert.Contains(Filter(Filters - 1), topics);
        foreach (var subscriber in subscribers)
            await subscriber.DisposeAsync();
    }

    [Fact]
    public async Task SessionWith1_5MBQueued_MovesToAnotherNode_WithEveryMessageInOrder()
    {
        const int count = 150;
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await StartOwningAsync(nats, 2);
        var (a, b) = (nodes[0], nodes[1]);
        await using (var first = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("heavy", V5, cleanStart: false, sessionExpiry: 300)))
        {
            await first.SendAsync(SubscribePacket(1, "heavy/#", qos: 1, V5));
            await first.ReceiveAsync(Suback);
            await first.SendAsync(DisconnectPacket(V5));
            await first.WaitForCloseAsync();
        }
        // 150 messages of 10 KB queue on a for the offline session: 1.5 MB of state to hand over.
        static string Payload(int i) => i.ToString("D4", CultureInfo.InvariantCulture) + new string((char)('a' + i % 26), 10_000);
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "heavy/1"], Enumerable.Range(0, count).Select(Payload));
        await UntilQueuedAsync(a, "heavy", count);

        await using var second = await RawMqttClient.ConnectAsync(b);
        await second.SendAsync(ConnectPacket("heavy", V5, cleanStart: false, sessionExpiry: 300));
        var connack = await second.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((0, 1), (ConnackCode(connack), connack.Body[0] & 1)); // session present [MQTT-3.2.2-2]
        for (var i = 0; i < count; i++)
        {
            var publish = await second.ReceiveAsync(Publish);
            Assert.Equal(Payload(i), ReadPublish(publish, V5).Payload);
            await second.SendAsync(Packet(0x40, [(byte)(PacketId(publish) >> 8), (byte)PacketId(publish)]));
        }
    }

    // The same session's record as the cluster's copy: a key-value entry is one NATS message, so a record over it is
    // not copied (logged, and not retried for ever), and a takeover by a running node still moves it whole.
    [Fact]
    public async Task SessionRecordOver1MB_NotCopied_Logged_ButATakeoverMovesItWhole()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await StartOwningAsync(nats, 2);
        var (a, b) = (nodes[0], nodes[1]);
        // 10,000 filters (mqtt.max_subscriptions) of about 120 bytes: a record of about 1.2 MB.
        static string LongFilter(int i) => "long-filters/" + i.ToString("D5", CultureInfo.InvariantCulture) + "/" + new string('f', 100);
        await using (var first = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("many-long", V5, cleanStart: false, sessionExpiry: 300)))
        {
            for (var batch = 0; batch < 20; batch++)
            {
                await first.SendAsync(SubscribePacket((ushort)(1 + batch), Enumerable.Range(batch * 500, 500).Select(LongFilter), qos: 1, V5));
                await first.ReceiveAsync(Suback);
            }
            await first.SendAsync(DisconnectPacket(V5));
            await first.WaitForCloseAsync();
        }
        await a.WaitForLogAsync(l => l.Contains("client id many-long's session is", StringComparison.Ordinal) && l.Contains("the cluster keeps no copy of it", StringComparison.Ordinal), "a to say the copy is too large", Deadline);
        await UntilAsync(a, n => CopiesPending(n, a) == 0, "a to stop trying to write the copy");

        await using var second = await RawMqttClient.ConnectAsync(b);
        await second.SendAsync(ConnectPacket("many-long", V5, cleanStart: false, sessionExpiry: 300));
        var connack = await second.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((0, 1), (ConnackCode(connack), connack.Body[0] & 1)); // session present [MQTT-3.2.2-2]
        await UntilAsync(a, n => Node(n, b.NodeName).GetProperty("routes").GetInt32() == 10_000, "a to hold b's 10,000 routes");
        await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", LongFilter(9_999), "-m", "to the last long filter"]);
        Assert.Equal("to the last long filter", ReadPublish(await second.ReceiveAsync(Publish), V5).Payload);
    }
}
