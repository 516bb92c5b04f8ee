using System.Text;
using System.Text.RegularExpressions;
using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Core.Persistence;
using Broker.EndToEnd.Tests.Infrastructure;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.KeyValueStore;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24, session copies of the older layout (key <c>c.&lt;client id&gt;</c>): the ones nobody will resume are
/// deleted by a clean-up pass, the others stay and are still resumed by their client's CONNECT. One NATS server and one
/// broker node: nothing here needs more.
/// </summary>
public sealed partial class ClusterOldCopiesTests
{
    private const string Gone = "gone@127.0.0.1"; // a node that wrote copies and is no longer there

    [Fact]
    public async Task OldLayoutCopies_SupersededUnreadableOrExpired_AreDeleted_TheOthersStillResume()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var nodes = await StartOwningAsync(nats, 1);
        var a = nodes[0];
        await a.WaitForLogAsync(l => l.Contains("e2e-sessions ready (", StringComparison.Ordinal), "a's sessions bucket", Deadline);
        var cancel = TestContext.Current.CancellationToken;
        await using var connection = new NatsConnection(new NatsOpts { Url = nats.Url(0) });
        var kv = new NatsKVContext(new NatsJSContext(connection));
        var sessions = await kv.GetStoreAsync("e2e-sessions", cancel);
        var owners = await kv.GetStoreAsync("e2e-owners", cancel);
        var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

        // As nodes of the older version wrote them: the writer's name, "-" (not on disk), the record.
        await sessions.PutAsync(OldKey("old-expired"), OldCopy("old-expired", Gone, expiry: 1, disconnectedAt: now - 3_600_000), cancellationToken: cancel);
        await sessions.PutAsync(OldKey("old-unreadable"), Encoding.UTF8.GetBytes(Gone + "\n-\nnot a session record"), cancellationToken: cancel);
        await sessions.PutAsync(OldKey("old-mine"), OldCopy("old-mine", a.NodeName, expiry: 2, disconnectedAt: 0), cancellationToken: cancel); // a's earlier life, client connected
        await sessions.PutAsync(OldKey("old-superseded"), OldCopy("old-superseded", Gone, expiry: 3600, disconnectedAt: now), cancellationToken: cancel);
        await sessions.PutAsync(OldKey("old-forever"), OldCopy("old-forever", Gone, expiry: 60, disconnectedAt: 0), cancellationToken: cancel); // end unknown
        await sessions.PutAsync(OldKey("old-live"), OldCopy("old-live", Gone, expiry: 3600, disconnectedAt: now, "old/live"), cancellationToken: cancel);
        await owners.PutAsync(OldKey("old-live"), Encoding.UTF8.GetBytes(Gone + "\nboot-of-gone"), cancellationToken: cancel);

        // old-superseded then has a session on a, whose own copy is written after the old one.
        await using (var client = await RawMqttClient.ConnectMqttAsync(a, ConnectPacket("old-superseded", V5, cleanStart: false, sessionExpiry: 300)))
        {
            await client.SendAsync(SubscribePacket(1, "old/superseded", qos: 1, V5));
            await client.ReceiveAsync(Suback);
        }
        await UntilWrittenAsync(sessions, global::Broker.Cluster.ClusterNode.CopyKey(a.NodeName, "old-superseded"));

        // The pass runs when the sessions bucket opens: at start.
        await using var restarted = await a.RestartAsync();
        var last = await restarted.WaitForLogAsync(l => PassLine().Match(l) is { Success: true } m && m.Groups["kept"].Value == "2",
            "a's clean-up to leave only old-live and old-forever", Deadline);
        // The first process's pass may have met the copies too (it starts when the bucket opens, racing the puts):
        // each copy is deleted once, at its revision, by whichever pass comes first.
        var (superseded, expired, unreadable) = (0, 0, 0);
        foreach (Match pass in PassLine().Matches(a.Transcript + restarted.Transcript))
        {
            TestContext.Current.TestOutputHelper?.WriteLine(pass.Value);
            superseded += int.Parse(pass.Groups["superseded"].Value, System.Globalization.CultureInfo.InvariantCulture);
            expired += int.Parse(pass.Groups["expired"].Value, System.Globalization.CultureInfo.InvariantCulture);
            unreadable += int.Parse(pass.Groups["unreadable"].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
        Assert.True((superseded, expired, unreadable) == (1, 2, 1), $"superseded {superseded}, expired {expired}, unreadable {unreadable}; last pass: {last}");
        var left = new List<string>();
        await foreach (var key in sessions.GetKeysAsync(["c.>"], cancellationToken: cancel))
            left.Add(key);
        Assert.Equal([OldKey("old-forever"), OldKey("old-live")], left.Order(StringComparer.Ordinal));

        // A copy kept is still what its client's CONNECT resumes (its writer is gone): session present, subscription back.
        await using var live = await RawMqttClient.ConnectAsync(restarted);
        await live.SendAsync(ConnectPacket("old-live", V5, cleanStart: false, sessionExpiry: 3600));
        var connack = await live.ReceiveAsync(TimeSpan.FromSeconds(10));
        Assert.Equal((0, 1), (ConnackCode(connack), connack.Body[0] & 1));
        await restarted.WaitForLogAsync(l => l.Contains("client id old-live resumes the cluster's copy of its session", StringComparison.Ordinal), "old-live to resume the old copy", Deadline);
        await using (var publisher = await RawMqttClient.ConnectMqttAsync(restarted, ConnectPacket("publisher", V5)))
            await publisher.SendAsync(PublishPacket("old/live", "still subscribed", 0, 0, V5));
        var message = await live.ReceiveAsync(Publish, TimeSpan.FromSeconds(10));
        Assert.Contains("still subscribed", Encoding.UTF8.GetString(message.Body), StringComparison.Ordinal);
    }

    private static string OldKey(string clientId) => "c." + Convert.ToBase64String(Encoding.UTF8.GetBytes(clientId)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static byte[] OldCopy(string clientId, string writer, uint expiry, long disconnectedAt, params string[] filters)
    {
        var record = SessionRecords.Encode(new SessionRecord(expiry, disconnectedAt, null, false,
            [.. filters.Select(f => KeyValuePair.Create(f, new SubscriptionOptions(MqttQos.AtLeastOnce)))], [], null, 0));
        var handover = SessionRecords.EncodeHandover([new(JournalKey.Session(clientId).ToString(), record)]);
        return [.. Encoding.UTF8.GetBytes(writer + "\n-\n"), .. handover];
    }

    /// <summary>Watches <paramref name="key"/> until a value is written there.</summary>
    private static async Task UntilWrittenAsync(INatsKVStore bucket, string key)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        deadline.CancelAfter(Deadline);
        await foreach (var entry in bucket.WatchAsync<byte[]>(key, cancellationToken: deadline.Token))
        {
            if (entry.Operation == NatsKVOperation.Put)
                return;
        }
    }

    [GeneratedRegex(@"old-layout session copies \(c\.<client id>\) in e2e-sessions: (?<deleted>\d+) deleted \((?<superseded>\d+) superseded by their owner's copy, (?<expired>\d+) expired, (?<unreadable>\d+) unreadable\), (?<kept>\d+) kept")]
    private static partial Regex PassLine();
}
