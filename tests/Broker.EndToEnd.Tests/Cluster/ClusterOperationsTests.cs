using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24, operations: the management API and ctl answering for the whole cluster, and join / leave / force-leave,
/// with real nodes, NATS servers and mosquitto clients. Every wait polls the API or a log with a deadline.
/// </summary>
public sealed class ClusterOperationsTests
{
    private const string A = "a@127.0.0.1";
    private const string B = "b@127.0.0.1";
    private const string C = "c@127.0.0.1";

    [Fact]
    public async Task Api_OnOneNode_ListsAndKicksTheClientsOfEveryNode()
    {
        // One NATS server: this test stops none, and over a fresh three-server cluster a node often waits for its first bucket (an unanswered create).
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(3, nats);
        var (a, b, c) = (started[0], started[1], started[2]);
        await using var subB = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "ops/b", "-i", "sub-b");
        await using var subC = await MosquittoClients.SubscribeAsync(c, "-q", "2", "-t", "ops/c", "-t", "ops/all", "-i", "sub-c");

        // Clients: b's and c's, each with its node, counted over the cluster.
        var clients = await GetAsync(a, "api/v4/clients");
        Assert.Equal(2, clients.GetProperty("meta").GetProperty("count").GetInt32());
        Assert.Equal([("sub-b", B), ("sub-c", C)], clients.GetProperty("data").EnumerateArray()
            .Select(x => (x.GetProperty("clientid").GetString(), x.GetProperty("node").GetString())));
        Assert.False(clients.TryGetProperty("node_errors", out _));
        Assert.Equal(C, (await GetAsync(a, "api/v4/clients/sub-c")).GetProperty("data")[0].GetProperty("node").GetString());
        Assert.Equal("sub-c", Assert.Single((await GetAsync(a, $"api/v4/nodes/{C}/clients")).GetProperty("data").EnumerateArray()).GetProperty("clientid").GetString());
        Assert.Empty((await GetAsync(a, $"api/v4/nodes/{A}/clients")).GetProperty("data").EnumerateArray());
        // Paged over the merged list: page 2 of 1 is c's client.
        var page2 = await GetAsync(a, "api/v4/clients?_page=2&_limit=1");
        Assert.Equal("sub-c", Assert.Single(page2.GetProperty("data").EnumerateArray()).GetProperty("clientid").GetString());
        Assert.False(page2.GetProperty("meta").GetProperty("hasnext").GetBoolean());

        // Subscriptions, with their node; a filter is applied on every node.
        var subscriptions = await GetAsync(a, "api/v4/subscriptions");
        Assert.Equal(3, subscriptions.GetProperty("meta").GetProperty("count").GetInt32());
        Assert.Equal([("sub-b", "ops/b", B), ("sub-c", "ops/all", C), ("sub-c", "ops/c", C)], subscriptions.GetProperty("data").EnumerateArray()
            .Select(x => (x.GetProperty("clientid").GetString(), x.GetProperty("topic").GetString(), x.GetProperty("node").GetString())));
        Assert.Equal("ops/c", Assert.Single((await GetAsync(a, "api/v4/subscriptions?qos=2&_match_topic=ops/c")).GetProperty("data").EnumerateArray()).GetProperty("topic").GetString());
        Assert.Equal(2, (await GetAsync(a, "api/v4/subscriptions/sub-c")).GetProperty("data").GetArrayLength());

        // Routes: every node's, from the table a holds (replicated, so polled until it has them).
        await PollAsync(() => GetAsync(a, "api/v4/routes"), r => r.GetProperty("data").GetArrayLength() == 3, "a to list the 3 routes");
        var routes = (await GetAsync(a, "api/v4/routes")).GetProperty("data").EnumerateArray()
            .Select(x => (x.GetProperty("topic").GetString(), x.GetProperty("node").GetString()));
        Assert.Equal([("ops/all", C), ("ops/b", B), ("ops/c", C)], routes);
        Assert.Equal(B, Assert.Single((await GetAsync(a, "api/v4/routes/ops%2Fb")).GetProperty("data").EnumerateArray()).GetProperty("node").GetString());

        // Stats: one entry per node.
        var stats = (await GetAsync(a, "api/v4/stats")).GetProperty("data").EnumerateArray()
            .ToDictionary(x => x.GetProperty("node").GetString()!, x => x.GetProperty("stats"));
        Assert.Equal([A, B, C], stats.Keys.Order());
        Assert.Equal(0, stats[A].GetProperty("connections.count").GetInt32());
        Assert.Equal(1, stats[B].GetProperty("subscriptions.count").GetInt32());
        Assert.Equal(2, stats[C].GetProperty("subscriptions.count").GetInt32());
        var totals = (await GetAsync(a, "api/v4/stats?aggregate=true")).GetProperty("data");
        Assert.Equal(2, totals.GetProperty("connections.count").GetInt32());
        Assert.Equal(3, totals.GetProperty("subscriptions.count").GetInt32());
        Assert.Equal(3, (await GetAsync(a, "api/v4/nodes")).GetProperty("data").GetArrayLength());

        // ctl on a shows c's client with its node.
        var list = await CtlRunner.RunAsync(a, "clients", "list");
        Assert.True(list.ExitCode == 0, list.Transcript);
        Assert.Matches(@"(?m)^sub-c\s.*c@127\.0\.0\.1\s*$", list.Stdout);

        // A kick through a disconnects the client on c.
        var kick = await CtlRunner.RunAsync(a, "clients", "kick", "sub-c");
        Assert.True(kick.ExitCode == 0, kick.Transcript);
        await c.WaitForLogAsync(l => l.Contains("Client sub-c disconnected: kicked", StringComparison.Ordinal), "sub-c kicked on c", Deadline);

        // Bad input: an unknown node or client.
        using var http = a.CreateManagementClient();
        var unknownNode = await http.GetAsync("api/v4/nodes/x@nowhere/clients", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, unknownNode.StatusCode);
        using var unknownAnswer = JsonDocument.Parse(await unknownNode.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
        Assert.Equal("no node named 'x@nowhere' in this cluster", unknownAnswer.RootElement.GetProperty("message").GetString());
        var missing = await CtlRunner.RunAsync(a, "clients", "kick", "nobody");
        Assert.True(missing.ExitCode == 1, missing.Transcript);
        Assert.Equal("no client 'nobody'", missing.Stderr);
    }

    [Fact]
    public async Task Leave_ServesAlone_AcrossRestart_JoinBringsItBack()
    {
        await using var nats = await NatsServers.StartAsync(2);
        var a = await StartNodeAsync("a", nats, 0);
        try
        {
            await using var b = await StartNodeAsync("b", nats, 1);
            await WaitJoinedAsync(a, b);
            await using var subB = await MosquittoClients.SubscribeAsync(b, "-q", "1", "-t", "l/#", "-i", "sub-b");
            await UntilAsync(a, n => Node(n, B).GetProperty("routes").GetInt32() == 1, "a to hold b's route");
            await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "l/1", "-m", "one"]);
            Assert.Equal("one", (await MosquittoClients.MessagesAsync(subB, 1))[0].Payload);

            // Leave: b forgets a at once; a serves its own clients alone.
            var leave = await CtlRunner.RunAsync(a, "cluster", "leave");
            Assert.True(leave.ExitCode == 0, leave.Transcript);
            Assert.Equal("left cluster e2e; serving this node's clients alone", leave.Stdout);
            await PollAsync(() => NodesAsync(b), n => n.GetArrayLength() == 1, "b to forget a");
            await AloneAsync(a);
            await using (var subA = await MosquittoClients.SubscribeAsync(a, "-q", "1", "-t", "l/#", "-i", "sub-a"))
            {
                await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "l/2", "-m", "alone"]);
                Assert.Equal("alone", (await MosquittoClients.MessagesAsync(subA, 1))[0].Payload);
            }
            var again = await CtlRunner.RunAsync(a, "cluster", "leave");
            Assert.True(again.ExitCode == 1, again.Transcript);
            Assert.Equal("this node is not in a cluster", again.Stderr);

            // Out across a restart, although broker.conf (its environment here) says cluster.enable = on.
            a = await RestartAsync(a);
            await a.WaitForLogAsync(l => l.Contains("cluster.state says left (ctl cluster leave", StringComparison.Ordinal), "a to say why it is alone", Deadline);
            await AloneAsync(a);

            // Join: bad input first, then b's NATS; messages flow again (and l/2 never reached b).
            var badUrl = await CtlRunner.RunAsync(a, "cluster", "join", "http://127.0.0.1:1");
            Assert.True(badUrl.ExitCode == 1, badUrl.Transcript);
            Assert.Contains("'http://127.0.0.1:1' is not nats://host:port", badUrl.Stderr, StringComparison.Ordinal);
            var unreachable = await CtlRunner.RunAsync(a, "cluster", "join", "nats://127.0.0.1:1");
            Assert.True(unreachable.ExitCode == 1, unreachable.Transcript);
            Assert.StartsWith("cannot reach NATS at nats://127.0.0.1:1", unreachable.Stderr, StringComparison.Ordinal);
            var join = await CtlRunner.RunAsync(a, "cluster", "join", nats.Url(1));
            Assert.True(join.ExitCode == 0, join.Transcript);
            Assert.Equal($"joined cluster e2e over {nats.Url(1)}", join.Stdout);
            var twice = await CtlRunner.RunAsync(a, "cluster", "join", nats.Url(1));
            Assert.True(twice.ExitCode == 1, twice.Transcript);
            Assert.Equal($"already in cluster e2e over {nats.Url(1)}", twice.Stderr);
            await UntilAsync(a, n => Node(n, B).GetProperty("routes").GetInt32() == 1, "a to hold b's route again");
            await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "l/3", "-m", "back"]);
            Assert.Equal(["one", "back"], (await MosquittoClients.MessagesAsync(subB, 2)).Select(m => m.Payload));

            // Joined across a restart too.
            a = await RestartAsync(a);
            await UntilAsync(a, n => Node(n, B).GetProperty("routes").GetInt32() == 1, "a, restarted, to hold b's route");
            Assert.Equal("joined", Self(await NodesAsync(a)).GetProperty("membership").GetString());
            await MosquittoClients.PublishAsync(a, ["-q", "1", "-t", "l/4", "-m", "restarted"]);
            Assert.Equal(["one", "back", "restarted"], (await MosquittoClients.MessagesAsync(subB, 3)).Select(m => m.Payload));
        }
        finally
        {
            await a.DisposeAsync();
        }
    }

    [Fact]
    public async Task ForceLeave_KilledNode_LeavesEveryStatus_RunningNodeIsToldToLeave()
    {
        // One NATS server: this test stops none, and over a fresh three-server cluster a node often waits for its first bucket (an unanswered create).
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(3, nats);
        var (a, b, c) = (started[0], started[1], started[2]);

        c.Signal("KILL");
        await a.WaitForLogAsync(l => l.Contains("node c@127.0.0.1 is down", StringComparison.Ordinal), "a to find c down", Deadline);
        // Down, not forgotten: a cluster-wide list says it lacks c's part, and ctl warns.
        var clients = await GetAsync(a, "api/v4/clients");
        Assert.Equal(C, Assert.Single(clients.GetProperty("node_errors").EnumerateArray()).GetProperty("node").GetString());
        var list = await CtlRunner.RunAsync(a, "clients", "list");
        Assert.True(list.ExitCode == 0, list.Transcript);
        Assert.Contains("warning: node c@127.0.0.1 is not in this answer: down", list.Stderr, StringComparison.Ordinal);

        var forced = await CtlRunner.RunAsync(a, "cluster", "force-leave", C);
        Assert.True(forced.ExitCode == 0, forced.Transcript);
        Assert.Equal("node c@127.0.0.1 removed from cluster e2e", forced.Stdout);
        Assert.Equal([A, B], Names(await NodesAsync(a)));
        await PollAsync(() => NodesAsync(b), n => n.GetArrayLength() == 2, "b to forget c");
        Assert.Equal([A, B], Names(await NodesAsync(b)));
        Assert.False((await GetAsync(a, "api/v4/clients")).TryGetProperty("node_errors", out _));

        // Bad input.
        var unknown = await CtlRunner.RunAsync(a, "cluster", "force-leave", C);
        Assert.True(unknown.ExitCode == 1, unknown.Transcript);
        Assert.Equal("no node 'c@127.0.0.1' in cluster e2e", unknown.Stderr);
        var self = await CtlRunner.RunAsync(a, "cluster", "force-leave", A);
        Assert.True(self.ExitCode == 1, self.Transcript);
        Assert.Contains("use leave", self.Stderr, StringComparison.Ordinal);

        // A running node is told, and leaves.
        var running = await CtlRunner.RunAsync(b, "cluster", "force-leave", A);
        Assert.True(running.ExitCode == 0, running.Transcript);
        await a.WaitForLogAsync(l => l.Contains("node b@127.0.0.1 removed this node from the cluster (force-leave): leaving", StringComparison.Ordinal), "a to be told", Deadline);
        await PollAsync(() => NodesAsync(a), n => Self(n).GetProperty("membership").GetString() == "left", "a to leave");
        Assert.Equal([B], Names(await NodesAsync(b)));
    }

    [Fact]
    public async Task SilentNode_IsReportedNotWaitedFor_AndIsToldToLeaveWhenItComesBack()
    {
        await using var nats = await NatsServers.StartAsync(2);
        await using var started = await ClusterHarness.StartAsync(2, nats);
        var (a, b) = (started[0], started[1]);

        // Paused (SIGSTOP): still "running" for a moment, but it cannot answer; the API answers without it, in time.
        b.Signal("STOP");
        try
        {
            var asked = Stopwatch.StartNew();
            var clients = await GetAsync(a, "api/v4/clients");
            asked.Stop();
            var error = Assert.Single(clients.GetProperty("node_errors").EnumerateArray());
            Assert.Equal(B, error.GetProperty("node").GetString());
            TestContext.Current.TestOutputHelper?.WriteLine($"answered without b in {asked.ElapsedMilliseconds} ms: {error.GetProperty("error").GetString()}");
            Assert.True(asked.Elapsed < TimeSpan.FromSeconds(5), $"the API waited {asked.Elapsed} for a silent node");

            // Removed while away (a network split looks the same): when it is back, it is told and leaves.
            await a.WaitForLogAsync(l => l.Contains("node b@127.0.0.1 is down", StringComparison.Ordinal), "a to find b down", Deadline);
            var forced = await CtlRunner.RunAsync(a, "cluster", "force-leave", B);
            Assert.True(forced.ExitCode == 0, forced.Transcript);
            Assert.Equal([A], Names(await NodesAsync(a)));
        }
        finally
        {
            b.Signal("CONT");
        }
        await b.WaitForLogAsync(l => l.Contains("node a@127.0.0.1 removed this node from the cluster (force-leave): leaving", StringComparison.Ordinal), "b to be told", Deadline);
        await PollAsync(() => NodesAsync(b), n => Self(n).GetProperty("membership").GetString() == "left", "b to leave");
        Assert.Equal([A], Names(await NodesAsync(a)));
    }

    /// <summary>This node's status says it left and serves alone.</summary>
    private static async Task AloneAsync(BrokerProcess node)
    {
        var nodes = await NodesAsync(node);
        Assert.Equal("left", Assert.Single(nodes.EnumerateArray()).GetProperty("membership").GetString());
        var status = await CtlRunner.RunAsync(node, "cluster", "status");
        Assert.True(status.ExitCode == 0, status.Transcript);
        Assert.Contains("this node left its cluster", status.Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CtlPlugins_OnEveryNodeByDefault_OrOneWithNode()
    {
        // One NATS server: this test stops none, and over a fresh three-server cluster a node often waits for its first bucket (an unanswered create).
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(3, nats, (_, o) =>
        {
            o.HomeContent["plugins/hello"] = TestPlugins.OutputOf("TestPlugins.Hello");
            o.PluginConf["hello"] = "greeting = rewritten\n";
        });
        var (a, b, c) = (started[0], started[1], started[2]);

        // Without --node: loaded on all three, each saying so in its own plugin list and loaded_plugins.
        var load = await CtlRunner.RunAsync(a, "plugins", "load", "hello");
        Assert.True(load.ExitCode == 0, load.Transcript);
        Assert.Equal($"Plugin hello loaded on {A}, {B}, {C}", load.Stdout);
        foreach (var node in started)
            Assert.Equal("running", await HelloStateAsync(node));

        // --node: one node only, whichever node ctl talks to.
        var unloadB = await CtlRunner.RunAsync(a, "plugins", "unload", "hello", "--node", B);
        Assert.True(unloadB.ExitCode == 0, unloadB.Transcript);
        Assert.Equal(new[] { "running", "stopped", "running" }, new[] { await HelloStateAsync(a), await HelloStateAsync(b), await HelloStateAsync(c) });
        Assert.DoesNotContain("hello", await File.ReadAllLinesAsync(Path.Combine(b.HomeDirectory, "data", "loaded_plugins"), TestContext.Current.CancellationToken));

        // Done where it can be: b loads it; a and c, where it already runs, are warnings naming the node and why.
        var again = await CtlRunner.RunAsync(c, "plugins", "load", "hello");
        Assert.True(again.ExitCode == 0, again.Transcript);
        Assert.Equal("Plugin hello loaded", again.Stdout);
        Assert.Contains($"node {A}", again.Stderr, StringComparison.Ordinal);
        Assert.Contains($"node {C}", again.Stderr, StringComparison.Ordinal);
        Assert.Contains("already", again.Stderr, StringComparison.OrdinalIgnoreCase);
        Assert.Equal("running", await HelloStateAsync(b));

        // Unloaded everywhere, then nowhere to unload it: an error (exit 1) with the plugin host's message.
        Assert.Equal(0, (await CtlRunner.RunAsync(b, "plugins", "unload", "hello")).ExitCode);
        foreach (var node in started)
            Assert.Equal("stopped", await HelloStateAsync(node));
        var none = await CtlRunner.RunAsync(a, "plugins", "unload", "hello");
        Assert.Equal(1, none.ExitCode);
        Assert.Contains("not loaded", none.Stderr, StringComparison.OrdinalIgnoreCase);

        // An unknown node is refused before anything is done.
        var unknownNode = await CtlRunner.RunAsync(a, "plugins", "load", "hello", "--node", "z@127.0.0.1");
        Assert.Equal(1, unknownNode.ExitCode);
        Assert.Contains("z@127.0.0.1", unknownNode.Stderr, StringComparison.Ordinal);
        foreach (var node in started)
            Assert.Equal("stopped", await HelloStateAsync(node));
    }

    private static async Task<string> HelloStateAsync(BrokerProcess node) =>
        (await GetAsync(node, "api/v4/plugins/hello")).GetProperty("data")[0].GetProperty("state").GetString()!;

    private static async Task<BrokerProcess> RestartAsync(BrokerProcess node)
    {
        var next = await node.RestartAsync();
        await node.DisposeAsync();
        return next;
    }

    private static string[] Names(JsonElement nodes) => [.. nodes.EnumerateArray().Select(n => n.GetProperty("node").GetString()!).Order(StringComparer.Ordinal)];

    private static async Task<JsonElement> GetAsync(BrokerProcess broker, string path)
    {
        using var http = broker.CreateManagementClient();
        var json = await http.GetStringAsync(path, TestContext.Current.CancellationToken);
        return JsonDocument.Parse(json).RootElement.Clone();
    }

    /// <summary>Asks again and again (each answer is the wait) until <paramref name="condition"/> holds.</summary>
    private static async Task PollAsync(Func<Task<JsonElement>> ask, Func<JsonElement, bool> condition, string what)
    {
        var deadline = Stopwatch.StartNew();
        JsonElement last = default;
        while (deadline.Elapsed < Deadline)
        {
            last = await ask();
            if (condition(last))
                return;
        }
        Assert.Fail($"timed out waiting for {what}; last answer: {last}");
    }
}
