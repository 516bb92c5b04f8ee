using System.Security.Cryptography;
using Broker.EndToEnd.Tests.AuthPlugins;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24 item 2 ("retained messages are visible on every node") and item 5 (the retainer and the built-in auth
/// database shared), through plugins' <c>IPluginContext.Cluster</c>: nodes over a NATS cluster, driven by
/// mosquitto_pub / mosquitto_sub and ctl. What a client sees on another node than the one changed is the assertion
/// (for retained messages, MQTT 3.1.1 [MQTT-3.3.1-6] / 5.0 [MQTT-3.3.1-9]: a new subscription gets the topic's
/// retained message).
/// </summary>
public sealed class ClusterSharedStateTests
{
    [Fact]
    public async Task Retained_PublishedOnOneNode_ServedOnEveryNode_ReplacedAndDeletedEverywhere()
    {
        // One NATS server: this test stops none, and over a fresh three-server cluster a node often waits for its first bucket (an unanswered create).
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(3, nats, (_, o) => WithRetainer()(o));
        var (a, b, c) = (started[0], started[1], started[2]);

        await RetainAsync(a, "r/1", "v1");
        Assert.Equal("v1", await RetainedEventuallyAsync(b, "r/1", "v1"));
        Assert.Equal("v1", await RetainedEventuallyAsync(c, "r/1", "v1"));

        // Replaced on another node: the later message everywhere [MQTT-3.3.1-5].
        await RetainAsync(b, "r/1", "v2");
        Assert.Equal("v2", await RetainedEventuallyAsync(a, "r/1", "v2"));
        Assert.Equal("v2", await RetainedEventuallyAsync(c, "r/1", "v2"));

        // Deleted on a third (a zero-length retained PUBLISH, [MQTT-3.3.1-10] / 5.0 [MQTT-3.3.1-6]); c's changes reach
        // each node in the order c made them, so once the marker after it is there, the deletion is too.
        await RetainAsync(c, "r/1", "");
        await RetainAsync(c, "r/marker", "after-delete");
        foreach (var node in new[] { a, b })
        {
            await RetainedEventuallyAsync(node, "r/marker", "after-delete");
            Assert.Null(await RetainedAsync(node, "r/1"));
        }
    }

    // A node that was stopped meets the others again: it gets what changed meanwhile (new, replaced and deleted
    // topics), and its own older copies, kept on disc, neither win nor bring a deleted message back.
    [Fact]
    public async Task NodeRestarted_CatchesUpWithChangesMadeWhileDown_ItsStaleCopiesDoNotWin()
    {
        await using var nats = await NatsServers.StartAsync(2);
        await using var a = await ClusterHarness.StartNodeAsync("a", nats, 0, WithRetainer(disc: true));
        var b = await ClusterHarness.StartNodeAsync("b", nats, 1, WithRetainer(disc: true));
        try
        {
            await ClusterHarness.WaitJoinedAsync(a, b);
            await RetainAsync(a, "x/1", "old-1");
            await RetainAsync(a, "x/2", "old-2");
            await RetainedEventuallyAsync(b, "x/2", "old-2");
            Assert.Equal("old-1", await RetainedAsync(b, "x/1"));

            // b stops cleanly (its retained messages stay in its data directory); a changes all three.
            var stopped = b;
            b = await stopped.RestartAsync(whileDown: async () =>
            {
                await a.WaitForLogAsync(l => l.Contains("node b@127.0.0.1 left", StringComparison.Ordinal), "a to see b leave", ClusterHarness.Deadline);
                await RetainAsync(a, "x/1", "");
                await RetainAsync(a, "x/2", "new-2");
                await RetainAsync(a, "x/3", "new-3");
            });
            await stopped.DisposeAsync();

            // Each compares with the other once it sees it up (the log line says the comparison is complete; a's
            // first one was at b's first start).
            await b.WaitForLogAsync(l => l.Contains("retainer: compared with node a@127.0.0.1", StringComparison.Ordinal), "b to compare with a", ClusterHarness.Deadline);
            await a.WaitForLogLinesAsync(l => l.Contains("retainer: compared with node b@127.0.0.1", StringComparison.Ordinal), 2, "a to compare with the restarted b", ClusterHarness.Deadline);
            foreach (var node in new[] { a, b })
            {
                Assert.Null(await RetainedAsync(node, "x/1"));
                Assert.Equal("new-2", await RetainedAsync(node, "x/2"));
                Assert.Equal("new-3", await RetainedAsync(node, "x/3"));
            }
        }
        finally
        {
            await b.DisposeAsync();
        }
    }

    // The built-in user database: a user added on one node logs in on another, a deletion made there refuses it on the
    // first, and a node that was down while a user was added takes the newer database when it comes back.
    [Fact]
    public async Task AuthBuiltin_UserChangedOnOneNode_AppliesOnEvery_AndARestartedNodeCatchesUp()
    {
        await using var nats = await NatsServers.StartAsync(2);
        await using var a = await ClusterHarness.StartNodeAsync("a", nats, 0, WithBuiltinAuth);
        var b = await ClusterHarness.StartNodeAsync("b", nats, 1, WithBuiltinAuth);
        try
        {
            await ClusterHarness.WaitJoinedAsync(a, b);
            await CtlAsync(a, "users", "add", "alice", "--password", "a-pass");
            await ConnectEventuallyAsync(b, "alice", "a-pass", "accepted");
            await CtlAsync(b, "users", "del", "alice");
            await ConnectEventuallyAsync(a, "alice", "a-pass", "not authorised"); // unknown, and no other source admits it

            var stopped = b;
            b = await stopped.RestartAsync(whileDown: async () =>
            {
                await a.WaitForLogAsync(l => l.Contains("node b@127.0.0.1 left", StringComparison.Ordinal), "a to see b leave", ClusterHarness.Deadline);
                await CtlAsync(a, "users", "add", "bob", "--password", "b-pass");
            });
            await stopped.DisposeAsync();
            await b.WaitForLogAsync(l => l.Contains("auth_builtin: took the newer database of node a@127.0.0.1", StringComparison.Ordinal), "b to take a's database", ClusterHarness.Deadline);
            Assert.Equal("accepted", await Backends.ConnectAsync(b, "bob", "b-pass"));
            Assert.Equal("not authorised", await Backends.ConnectAsync(b, "alice", "a-pass"));
        }
        finally
        {
            await b.DisposeAsync();
        }
    }

    // A database too large for one cluster message (15,000 users with mosquitto's $7$ hashes, which do not compress:
    // about 1.3 MB gzip'd, over NATS' 1 MB) still reaches the other node: the change is announced by an empty message,
    // and b asks a for the database, whose answer may be any size. Before, the change stayed on a (logged).
    [Fact]
    public async Task AuthBuiltin_DatabaseOver1MB_ImportedOnOneNode_LogsInOnAnother()
    {
        const int users = 15_000;
        var dir = Directory.CreateTempSubdirectory("auth-builtin-large-").FullName;
        try
        {
            // Three files of 5,000 (an API request body is at most 1 MB); the last one has a real mosquitto_passwd user.
            var files = Enumerable.Range(0, 3).Select(f => Path.Combine(dir, $"part{f}.passwd")).ToArray();
            await Backends.RunAsync(Tools.Require("mosquitto_passwd", "mosquitto"), ["-c", "-b", files[2], "needle", "n-pass"]);
            for (var f = 0; f < files.Length; f++)
            {
                var lines = Enumerable.Range(f * users / 3, users / 3).Select(i => FormattableString.Invariant(
                    $"user{i:D5}:$7$101${Convert.ToBase64String(RandomNumberGenerator.GetBytes(12))}${Convert.ToBase64String(RandomNumberGenerator.GetBytes(64))}"));
                await File.AppendAllLinesAsync(files[f], lines, TestContext.Current.CancellationToken);
            }

            await using var nats = await NatsServers.StartAsync(1);
            await using var a = await ClusterHarness.StartNodeAsync("a", nats, 0, WithBuiltinAuth);
            await using var b = await ClusterHarness.StartNodeAsync("b", nats, 0, WithBuiltinAuth);
            await ClusterHarness.WaitJoinedAsync(a, b);
            foreach (var file in files)
                await CtlAsync(a, "users", "import", file, "--format", "mosquitto");

            await b.WaitForLogAsync(l => l.Contains($"auth_builtin: took the newer database of node a@127.0.0.1: {users + 1} user name(s)", StringComparison.Ordinal), "b to take a's database", ClusterHarness.Deadline);
            Assert.Equal("accepted", await Backends.ConnectAsync(b, "needle", "n-pass"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    private static void WithBuiltinAuth(BrokerOptions o)
    {
        o["allow_anonymous"] = "false";
        o.LoadedPlugins.Add("auth_builtin");
        o.PluginConf["auth_builtin"] = "auth.builtin.pbkdf2_iterations = 10\n";
    }

    private static async Task CtlAsync(BrokerProcess node, params string[] arguments)
    {
        var result = await CtlRunner.RunAsync(node, arguments);
        Assert.True(result.ExitCode == 0, $"ctl {string.Join(' ', arguments)} exited {result.ExitCode}\n{result.Transcript}");
    }

    /// <summary>Connects again and again (each CONNECT is the wait) until the outcome is <paramref name="expected"/>.</summary>
    private static async Task ConnectEventuallyAsync(BrokerProcess node, string user, string password, string expected)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        string outcome;
        while ((outcome = await Backends.ConnectAsync(node, user, password)) != expected && deadline.Elapsed < ClusterHarness.Deadline)
        {
        }
        Assert.True(outcome == expected, $"{user} on {node.NodeName}: {outcome}, not {expected}");
    }

    private static Action<BrokerOptions> WithRetainer(bool disc = false) => o =>
    {
        o.LoadedPlugins.Add("retainer");
        if (disc)
            o.PluginConf["retainer"] = "storage_type = disc\n";
    };

    private static Task RetainAsync(BrokerProcess node, string topic, string payload) =>
        MosquittoClients.PublishAsync(node, payload.Length == 0 ? ["-q", "1", "-r", "-t", topic, "-n"] : ["-q", "1", "-r", "-t", topic, "-m", payload]);

    /// <summary>What a new subscriber of <paramref name="topic"/> on <paramref name="node"/> gets as retained, or null.</summary>
    private static async Task<string?> RetainedAsync(BrokerProcess node, string topic)
    {
        // Exits with the first retained message, or after 2 s with none (a retained message comes right after SUBACK).
        await using var sub = MosquittoClients.StartSub(node, "-q", "1", "-t", topic, "--retained-only", "-C", "1", "-W", "2");
        await sub.WaitForExitAsync(MosquittoClients.Timeout);
        var message = MosquittoClients.MessagesSoFar(sub).SingleOrDefault();
        Assert.True(message is null || message.Retain, $"a message on {topic} without RETAIN");
        return message?.Payload;
    }

    /// <summary>Subscribes again and again (each subscription is the wait) until the retained message is <paramref name="expected"/>.</summary>
    private static async Task<string?> RetainedEventuallyAsync(BrokerProcess node, string topic, string expected)
    {
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        string? seen;
        while ((seen = await RetainedAsync(node, topic)) != expected && deadline.Elapsed < ClusterHarness.Deadline)
        {
        }
        Assert.True(seen == expected, $"{node.NodeName} serves {seen ?? "no retained message"} on {topic}, not {expected}");
        return seen;
    }
}
