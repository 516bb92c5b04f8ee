using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Cluster.ClusterHarness;

namespace Broker.EndToEnd.Tests.Cluster;

/// <summary>
/// Issue 24, plugins and management across the cluster: the banned list replicated to every node (operators' bans and
/// login_failure's), alarms listed for every node, <c>/mqtt/subscribe</c> for a client on another node, and delayed
/// messages that survive the node they were published to. Real nodes and NATS servers; clients are Paho (for MQTT 5
/// reason codes) and mosquitto; ctl through <see cref="CtlRunner"/>. Every wait polls with a deadline.
/// </summary>
public sealed class ClusterAdminTests
{
    private const string A = "a@127.0.0.1";
    private const string B = "b@127.0.0.1";

    /// <summary>CONNACK 0x8A Banned (MQTT 5 section 3.2.2.2).</summary>
    private const int Banned = 0x8A;

    [Fact]
    public async Task Banned_AddedOnOneNode_RefusedOnEvery_DeletedOnAnother_AndANodeStartedLaterHasTheList()
    {
        await using var nats = await NatsServers.StartAsync(2);
        await using var started = await ClusterHarness.StartAsync(2, nats);
        var (a, b) = (started[0], started[1]);
        await using var victim = await MosquittoClients.SubscribeAsync(b, "-V", "5", "-q", "1", "-t", "v/#", "-i", "victim");

        await CtlAsync(a, "banned", "add", "--as", "clientid", "--who", "bad-1", "--reason", "flooding", "--duration", "1h");
        await ConnackEventuallyAsync(b, "bad-1", Banned, "b to refuse bad-1, banned on a");
        var list = await CtlAsync(b, "banned", "list");
        Assert.Contains("bad-1", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("flooding", list.Stdout, StringComparison.Ordinal);

        // A ban made on a disconnects the matching client connected to b, as it would on a.
        await CtlAsync(a, "banned", "add", "--as", "clientid", "--who", "victim", "--duration", "1h");
        await b.WaitForLogAsync(l => l.Contains("Client victim disconnected: banned", StringComparison.Ordinal), "b to disconnect victim", Deadline);

        // Lifted on b: a accepts it again.
        await CtlAsync(b, "banned", "del", "--as", "clientid", "--who", "bad-1");
        await ConnackEventuallyAsync(a, "bad-1", 0, "a to accept bad-1 once b lifted its ban");
        using (var http = a.CreateManagementClient())
        {
            var (status, body) = await ManagementHttp.SendAsync(http, HttpMethod.Get, "api/v4/banned");
            Assert.Equal(HttpStatusCode.OK, status);
            Assert.Equal(["victim"], body.GetProperty("data").EnumerateArray().Select(x => x.GetProperty("who").GetString()));
        }

        // A node that starts later holds CONNECTs until it has read the list from the cluster: its very first CONNECT
        // of a banned client is refused, not admitted and then disconnected. Its cluster.node_timeout (how long it holds
        // them at most) is raised so that a slow JetStream on a busy machine cannot make this pass or fail by timing.
        await using var c = await StartNodeAsync("c", nats, 0, o => o["cluster.node_timeout"] = "10s");
        Assert.Equal<int?>(Banned, await ConnackAsync(c, "victim"));
        Assert.Equal<int?>(0, await ConnackAsync(c, "bad-1"));
        Assert.Contains("Cluster: banned list read from e2e-banned", c.Transcript, StringComparison.Ordinal);
        await WaitJoinedAsync(a, b, c);
    }

    // One NATS server without JetStream clustering answers "replicas > 1 not supported in non-clustered mode" to the
    // bucket's cluster.owner_replicas (3): the bucket is made with one copy, as for too few servers, and bans replicate.
    [Fact]
    public async Task Banned_OverOneStandaloneNatsServer_BucketHasOneCopy_AndBansReplicate()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(2, nats);
        var (a, b) = (started[0], started[1]);

        await CtlAsync(a, "banned", "add", "--as", "clientid", "--who", "one-server", "--duration", "1h");

        await ConnackEventuallyAsync(b, "one-server", Banned, "b to refuse one-server, banned on a");
        await a.WaitForLogAsync(l => l.Contains("e2e-banned cannot have 3 replicas", StringComparison.Ordinal), "a to say the bucket has one copy", Deadline);
    }

    // A ban lifted on a node while it had left the cluster is lifted on every node when it joins again, even across a
    // restart while it was out; a ban another node made again after that lifting stays (the later write wins).
    [Fact]
    public async Task Banned_LiftedOrAddedWhileLeft_IsSoEverywhereOnJoin_UnlessChangedAgainLater()
    {
        await using var nats = await NatsServers.StartAsync(2);
        // b's cluster.node_timeout (how long it holds CONNECTs for its first read after the join) is raised so that its
        // first CONNECTs below answer with the cluster's list whatever the machine's load.
        await using var started = await ClusterHarness.StartAsync(2, nats, (i, o) =>
        {
            if (i == 1)
                o["cluster.node_timeout"] = "10s";
        });
        var (a, b) = (started[0], started[1]);
        await CtlAsync(a, "banned", "add", "--as", "clientid", "--who", "lifted-1", "--duration", "1h");
        await CtlAsync(a, "banned", "add", "--as", "clientid", "--who", "again-1", "--duration", "1h");
        await CtlAsync(a, "banned", "add", "--as", "clientid", "--who", "added-1", "--duration", "1h");
        await ConnackEventuallyAsync(b, "lifted-1", Banned, "b to refuse lifted-1, banned on a");
        await ConnackEventuallyAsync(b, "again-1", Banned, "b to refuse again-1, banned on a");
        await ConnackEventuallyAsync(b, "added-1", Banned, "b to refuse added-1, banned on a");

        await CtlAsync(b, "cluster", "leave");
        await CtlAsync(b, "banned", "del", "--as", "clientid", "--who", "lifted-1");
        await CtlAsync(b, "banned", "del", "--as", "clientid", "--who", "again-1");
        await CtlAsync(a, "banned", "add", "--as", "clientid", "--who", "again-1", "--reason", "again", "--duration", "1h");
        // The other way round: lifted in the cluster, then banned again on b while it is out; b's later ban wins.
        await CtlAsync(a, "banned", "del", "--as", "clientid", "--who", "added-1");
        await CtlAsync(b, "banned", "add", "--as", "clientid", "--who", "added-1", "--reason", "while-out", "--duration", "1h");
        await using var restarted = await b.RestartAsync();
        await restarted.WaitForLogAsync(l => l.Contains("cluster.state says left (ctl cluster leave", StringComparison.Ordinal), "b to stay out across its restart", Deadline);
        Assert.Equal<int?>(0, await ConnackAsync(restarted, "lifted-1"));

        await CtlAsync(restarted, "cluster", "join", nats.Url(1));
        Assert.Equal<int?>(0, await ConnackAsync(restarted, "lifted-1"));
        Assert.Equal<int?>(Banned, await ConnackAsync(restarted, "again-1"));
        Assert.Equal<int?>(Banned, await ConnackAsync(restarted, "added-1"));
        await ConnackEventuallyAsync(a, "lifted-1", 0, "a to accept lifted-1, lifted on b while it had left");
        await ConnackEventuallyAsync(a, "added-1", Banned, "a to refuse added-1, banned on b while it had left");
        Assert.Equal<int?>(Banned, await ConnackAsync(a, "again-1"));
        var list = await CtlAsync(restarted, "banned", "list");
        Assert.DoesNotContain("lifted-1", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("again", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("while-out", (await CtlAsync(a, "banned", "list")).Stdout, StringComparison.Ordinal);
    }

    // A ban held from a node whose clock is off (10 minutes ahead, through libfaketime) is ordered by the time the NATS
    // server stamped its write, not by the maker's clock: lifted in the cluster while the holder was out, it is lifted
    // there too when it joins again. Before, the maker's time, 10 minutes ahead, looked later than the lifting, so the
    // holder wrote the ban back and it returned on every node.
    [Fact]
    public async Task Banned_HeldFromANodeWhoseClockIsAhead_LiftedWhileOut_LiftedOnJoin_NotWrittenBack()
    {
        const string FakeTime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
        Assert.True(File.Exists(FakeTime), $"{FakeTime} is missing: install Debian's faketime (scripts/test.sh does)");
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(2, nats, (i, o) =>
        {
            if (i == 1)
            {
                o.Environment["LD_PRELOAD"] = FakeTime;
                o.Environment["FAKETIME"] = "+600s";
                o.Environment["FAKETIME_DONT_FAKE_MONOTONIC"] = "1";
            }
        });
        var (a, b) = (started[0], started[1]);
        await CtlAsync(b, "banned", "add", "--as", "clientid", "--who", "skewed-1", "--duration", "1h");
        await ConnackEventuallyAsync(a, "skewed-1", Banned, "a to refuse skewed-1, banned on b");

        await CtlAsync(a, "cluster", "leave");
        await CtlAsync(b, "banned", "del", "--as", "clientid", "--who", "skewed-1");
        Assert.Equal<int?>(Banned, await ConnackAsync(a, "skewed-1")); // out of the cluster: a still holds it
        await CtlAsync(a, "cluster", "join", nats.Url(0));

        await ConnackEventuallyAsync(a, "skewed-1", 0, "a to lift skewed-1, lifted in the cluster while it was out");
        Assert.Equal<int?>(0, await ConnackAsync(b, "skewed-1")); // not written back by a
        Assert.DoesNotContain("skewed-1", (await CtlAsync(b, "banned", "list")).Stdout, StringComparison.Ordinal);
    }

    // A ban lifted on a node while NATS is unreachable, the node restarted before NATS answers: the node kept the lifting
    // on disk until written, so once NATS is back it is lifted on every node (before, the cluster's list brought the ban
    // back on that node too).
    [Fact]
    public async Task Banned_LiftedWhileNatsIsDown_NodeRestartedBeforeItAnswers_LiftedEverywhereOnceItDoes()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(2, nats);
        var (a, b) = (started[0], started[1]);
        await CtlAsync(a, "banned", "add", "--as", "clientid", "--who", "down-1", "--duration", "1h");
        await ConnackEventuallyAsync(b, "down-1", Banned, "b to refuse down-1, banned on a");

        await nats.KillServerAsync(0);
        await CtlAsync(a, "banned", "del", "--as", "clientid", "--who", "down-1");
        await using var restarted = await a.RestartAsync();
        Assert.DoesNotContain("down-1", (await CtlAsync(restarted, "banned", "list")).Stdout, StringComparison.Ordinal);

        await nats.StartServerAsync(0);
        await ConnackEventuallyAsync(b, "down-1", 0, "b to accept down-1, lifted on a while NATS was down (a restarted since)");
        await restarted.WaitForLogAsync(l => l.Contains("ban of clientid down-1, lifted here at", StringComparison.Ordinal), "a to write its lifting kept across the restart", Deadline);
        Assert.Equal<int?>(0, await ConnackAsync(restarted, "down-1"));
        Assert.DoesNotContain("down-1", (await CtlAsync(restarted, "banned", "list")).Stdout, StringComparison.Ordinal);
    }

    // The leave variant: a ban lifted on a node while NATS is unreachable, the node then leaving the cluster (ctl cluster
    // leave) before NATS answers. Out of the cluster it writes nothing; the lifting is kept on disk until written, so
    // once NATS answers and the node joins again, it is lifted on every node (before, the cluster's list brought the ban
    // back on that node too).
    [Fact]
    public async Task Banned_LiftedWhileNatsIsDown_NodeLeftBeforeItAnswers_LiftedEverywhereOnceItJoinsAgain()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(2, nats);
        var (a, b) = (started[0], started[1]);
        await CtlAsync(a, "banned", "add", "--as", "clientid", "--who", "left-1", "--duration", "1h");
        await ConnackEventuallyAsync(b, "left-1", Banned, "b to refuse left-1, banned on a");

        await nats.KillServerAsync(0);
        await CtlAsync(a, "banned", "del", "--as", "clientid", "--who", "left-1");
        await CtlAsync(a, "cluster", "leave");
        Assert.Equal<int?>(0, await ConnackAsync(a, "left-1"));

        await nats.StartServerAsync(0);
        await CtlAsync(a, "cluster", "join", nats.Url(0));
        await ConnackEventuallyAsync(b, "left-1", 0, "b to accept left-1, lifted on a while NATS was down (a left and joined again since)");
        await a.WaitForLogAsync(l => l.Contains("ban of clientid left-1, lifted here at", StringComparison.Ordinal), "a to write its lifting kept across the leave", Deadline);
        Assert.Equal<int?>(0, await ConnackAsync(a, "left-1"));
        Assert.DoesNotContain("left-1", (await CtlAsync(a, "banned", "list")).Stdout, StringComparison.Ordinal);
    }

    // login_failure bans the address and the user name on the node the guesses went to; the other node refuses them too.
    [Fact]
    public async Task Banned_ByLoginFailureOnOneNode_AppliesOnEvery_AndIsLiftedEverywhere()
    {
        await using var nats = await NatsServers.StartAsync(2);
        await using var started = await ClusterHarness.StartAsync(2, nats, (_, o) =>
        {
            o["allow_anonymous"] = "false";
            o["login_failure.delay_after"] = "100";
            o["login_failure.ban_after"] = "3";
            o.Users.Add(("dev", "right-password"));
        });
        var (a, b) = (started[0], started[1]);

        for (var i = 0; i < 3; i++)
        {
            await using var guess = MosquittoClients.StartPub(a, ["-u", "dev", "-P", "wrong", "-i", $"guess-{i}", "-t", "t", "-m", "x"]);
            Assert.NotEqual(0, await guess.WaitForExitAsync(MosquittoClients.Timeout));
        }
        await a.WaitForLogAsync(l => l.Contains("Banned address 127.0.0.1", StringComparison.Ordinal), "a to ban 127.0.0.1", Deadline);
        // Polled through b's API, not by connecting to b: failed logins there would make b ban it by itself.
        using (var http = b.CreateManagementClient())
        {
            var deadline = Stopwatch.StartNew();
            while (!(await ManagementHttp.SendAsync(http, HttpMethod.Get, "api/v4/banned")).Body.GetProperty("data").EnumerateArray()
                .Any(x => x.GetProperty("who").GetString() == "127.0.0.1" && x.GetProperty("by").GetString() == "login_failure"))
            {
                Assert.True(deadline.Elapsed < Deadline, "b never listed a's ban of 127.0.0.1");
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
        }
        Assert.Equal(Banned, await ConnackAsync(b, "anyone"));
        Assert.DoesNotContain("Banned address", b.Transcript, StringComparison.Ordinal);
        var list = await CtlAsync(b, "banned", "list");
        Assert.Contains("login_failure", list.Stdout, StringComparison.Ordinal);
        Assert.Contains("dev", list.Stdout, StringComparison.Ordinal);

        foreach (var (kind, who) in new[] { ("peerhost", "127.0.0.1"), ("username", "dev") })
            await CtlAsync(b, "banned", "del", "--as", kind, "--who", who);
        var lifted = Stopwatch.StartNew();
        while (true)
        {
            await using var pub = MosquittoClients.StartPub(a, ["-u", "dev", "-P", "right-password", "-t", "t", "-m", "in"]);
            if (await pub.WaitForExitAsync(MosquittoClients.Timeout) == 0)
                break;
            Assert.True(lifted.Elapsed < Deadline, "a still refuses dev after b lifted the bans: " + pub.Transcript);
        }
    }

    [Fact]
    public async Task Alarms_OnAnyNode_ListEveryNodesAlarms_EachWithItsNode()
    {
        await using var nats = await NatsServers.StartAsync(2);
        await using var started = await ClusterHarness.StartAsync(2, nats, (i, o) =>
        {
            if (i == 1)
            {
                o["overload_protection.high_watermark"] = "64KB";
                o["overload_protection.low_watermark"] = "32KB";
                o["overload_protection.check_interval"] = "100ms";
            }
        });
        var (a, b) = (started[0], started[1]);

        // An offline persistent session on b holds what is published for it: b goes over its high watermark.
        await using (var keeper = await MosquittoClients.SubscribeAsync(b, "-c", "-i", "keeper", "-q", "1", "-t", "alarm/#"))
        {
        }
        await b.WaitForLogAsync(l => l.Contains("Client keeper disconnected", StringComparison.Ordinal), "keeper to go offline", Deadline);
        var payload = new string('x', 1024);
        await MosquittoClients.PublishAsync(b, ["-q", "1", "-t", "alarm/x"], Enumerable.Repeat(payload, 100));
        await b.WaitForLogAsync(l => l.Contains("Overloaded:", StringComparison.Ordinal), "b to be overloaded", Deadline);

        using var http = a.CreateManagementClient();
        var (status, body) = await ManagementHttp.SendAsync(http, HttpMethod.Get, "api/v4/alarms/activated");
        Assert.Equal(HttpStatusCode.OK, status);
        var byNode = body.GetProperty("data").EnumerateArray().ToDictionary(n => n.GetProperty("node").GetString()!, n => n.GetProperty("alarms"));
        Assert.Equal([A, B], byNode.Keys.Order(StringComparer.Ordinal));
        Assert.Empty(byNode[A].EnumerateArray());
        Assert.Equal("high_memory_usage", Assert.Single(byNode[B].EnumerateArray()).GetProperty("name").GetString());
        var (_, one) = await ManagementHttp.SendAsync(http, HttpMethod.Get, $"api/v4/nodes/{B}/alarms");
        Assert.Equal(B, Assert.Single(one.GetProperty("data").EnumerateArray()).GetProperty("node").GetString());

        var list = await CtlAsync(a, "alarms", "list");
        Assert.Matches(@"(?m)^b@127\.0\.0\.1\s+high_memory_usage\s+active", list.Stdout);
    }

    [Fact]
    public async Task MqttSubscribe_OnOneNode_ForAClientOnAnother_IsDoneThere_UnknownClientIs404()
    {
        await using var nats = await NatsServers.StartAsync(2);
        await using var started = await ClusterHarness.StartAsync(2, nats);
        var (a, b) = (started[0], started[1]);
        await using var target = await MosquittoClients.SubscribeAsync(b, "-V", "5", "-q", "1", "-t", "own/x", "-i", "target");

        using var http = a.CreateManagementClient();
        var (status, body) = await ManagementHttp.SendAsync(http, HttpMethod.Post, "api/v4/mqtt/subscribe", """{"clientid":"target","topic":"api/sub","qos":1}""");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal(0, body.GetProperty("code").GetInt32());
        var subscriptions = await ManagementHttp.SendAsync(http, HttpMethod.Get, "api/v4/subscriptions/target");
        Assert.Contains(subscriptions.Body.GetProperty("data").EnumerateArray(),
            s => s.GetProperty("topic").GetString() == "api/sub" && s.GetProperty("node").GetString() == B);

        // b's route reaches a: a message published on a is delivered to the client on b.
        await PublishUntilReceivedAsync(a, target, "api/sub", "via-api");

        // Unsubscribed through a too; a second unsubscribe finds no such subscription there (404/404).
        (status, body) = await ManagementHttp.SendAsync(http, HttpMethod.Post, "api/v4/mqtt/unsubscribe", """{"clientid":"target","topic":"api/sub"}""");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        (status, body) = await ManagementHttp.SendAsync(http, HttpMethod.Post, "api/v4/mqtt/unsubscribe", """{"clientid":"target","topic":"api/sub"}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(404, body.GetProperty("code").GetInt32());

        // Batches are forwarded per item; a client no node has is 404/112.
        (status, body) = await ManagementHttp.SendAsync(http, HttpMethod.Post, "api/v4/mqtt/subscribe_batch",
            """[{"clientid":"target","topic":"api/batch","qos":0},{"clientid":"nobody","topic":"api/batch","qos":0}]""");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([0, 112], body.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("code").GetInt32()));
        (status, body) = await ManagementHttp.SendAsync(http, HttpMethod.Post, "api/v4/mqtt/subscribe", """{"clientid":"nobody","topic":"api/sub"}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(112, body.GetProperty("code").GetInt32());

        // ctl subscriptions add goes the same way.
        await CtlAsync(a, "subscriptions", "add", "target", "api/ctl", "--qos", "1");
        await PublishUntilReceivedAsync(a, target, "api/ctl", "via-ctl");
    }

    // A delayed message published on a, which is killed before it is due: b publishes it on time, once.
    [Fact]
    public async Task DelayedPublish_OriginKilledBeforeDue_SurvivorPublishesItOnTime_ExactlyOnce()
    {
        // One NATS server: this test stops none, and over a fresh three-server cluster a node often waits for its first bucket (an unanswered create).
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(2, nats, (_, o) => o.LoadedPlugins.Add("delayed_publish"));
        var (a, b) = (started[0], started[1]);
        await using var sub = await MosquittoClients.SubscribeAsync(b, "-V", "5", "-q", "1", "-t", "wake/#", "-i", "sleeper");
        await UntilAsync(a, n => Node(n, B).GetProperty("routes").GetInt32() >= 1, "a to hold b's route");

        // One published on a and fired by a (its origin, alive), once.
        await MosquittoClients.PublishAsync(a, ["-V", "5", "-q", "1", "-t", "$delayed/1/wake/early", "-m", "early"]);
        Assert.Equal("early", (await MosquittoClients.MessagesAsync(sub, 1, TimeSpan.FromSeconds(10)))[0].Payload);

        var published = Stopwatch.StartNew();
        await MosquittoClients.PublishAsync(a, ["-V", "5", "-q", "1", "-t", "$delayed/6/wake/up", "-m", "ring"]);
        a.Signal("KILL");
        await b.WaitForLogAsync(l => l.Contains("node a@127.0.0.1 is down", StringComparison.Ordinal), "b to find a down", Deadline);

        IReadOnlyList<ReceivedMessage> messages;
        try
        {
            messages = await MosquittoClients.MessagesAsync(sub, 2, TimeSpan.FromSeconds(20));
        }
        catch (TimeoutException ex)
        {
            // What each node's plugin said, so that a failure names the step that went wrong.
            throw new TimeoutException($"{ex.Message}\n--- a ---\n{PluginLines(a)}\n--- b ---\n{PluginLines(b)}", ex);
        }
        var at = published.Elapsed;
        Assert.Equal(["early", "ring"], messages.Select(m => m.Payload));
        TestContext.Current.TestOutputHelper?.WriteLine($"delivered {at.TotalSeconds:0.00} s after the publish (delay 6 s)");
        Assert.True(at >= TimeSpan.FromSeconds(5.5) && at < TimeSpan.FromSeconds(8), $"delivered {at} after a publish delayed 6 s");
        await b.WaitForLogAsync(l => l.Contains("published the delayed message to wake/up of node a@127.0.0.1", StringComparison.Ordinal), "b to say it took it over", Deadline);

        // Exactly once: nothing more arrives.
        await Task.Delay(TimeSpan.FromSeconds(3), TestContext.Current.CancellationToken);
        Assert.Equal(2, MosquittoClients.MessagesSoFar(sub).Count);
    }

    // A plugin's internal subscription (IPluginContext.SubscribeInternal) is a route of its node, as a client's is:
    // the hello plugin on b mirrors what it gets of sensors/#, published on a, with the publisher's metadata and a as
    // the origin; unloaded, its route goes.
    [Fact]
    public async Task InternalSubscription_OnB_GetsWhatIsPublishedOnA_ItsRouteGoesWithThePlugin()
    {
        await using var nats = await NatsServers.StartAsync(1);
        await using var started = await ClusterHarness.StartAsync(2, nats, (i, o) =>
        {
            o.HomeContent["plugins/hello"] = TestPlugins.OutputOf("TestPlugins.Hello");
            if (i == 1)
            {
                o.PluginConf["hello"] = "mirror_from = sensors/#\n";
                o.LoadedPlugins.Add("hello");
            }
        });
        var (a, b) = (started[0], started[1]);
        await using var sub = await MosquittoClients.SubscribeAsync(b, "-t", "mirror/#", "-q", "1", "-i", "mirror-watch");
        await UntilAsync(a, n => Node(n, B).GetProperty("routes").GetInt32() == 2, "a to hold b's routes sensors/# and mirror/#");

        await MosquittoClients.PublishAsync(a, ["-t", "sensors/a", "-q", "1", "-m", "21.5", "-i", "thermo-1"]);
        var mirrored = (await MosquittoClients.MessagesAsync(sub, 1))[0];
        Assert.Equal(("mirror/sensors/a", $"thermo-1||127.0.0.1|{A}|32"), (mirrored.Topic, mirrored.Payload));

        await CtlAsync(a, "plugins", "unload", "hello", "--node", B);
        await UntilAsync(a, n => Node(n, B).GetProperty("routes").GetInt32() == 1, "b to withdraw sensors/#");
    }

    private static string PluginLines(BrokerProcess node) => string.Join('\n',
        node.Transcript.Split('\n').Where(l => l.Contains("delayed_publish", StringComparison.Ordinal) || l.Contains(" is down", StringComparison.Ordinal)));

    private static async Task PublishUntilReceivedAsync(BrokerProcess node, ChildProcess sub, string topic, string payload)
    {
        var deadline = Stopwatch.StartNew();
        while (!MosquittoClients.MessagesSoFar(sub).Any(m => m.Topic == topic && m.Payload == payload))
        {
            Assert.True(deadline.Elapsed < Deadline, $"{payload} on {topic} never arrived: {sub.Transcript}");
            await MosquittoClients.PublishAsync(node, ["-q", "1", "-t", topic, "-m", payload]);
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    private static async Task<CtlResult> CtlAsync(BrokerProcess broker, params string[] arguments)
    {
        var result = await CtlRunner.RunAsync(broker, arguments);
        Assert.True(result.ExitCode == 0, result.Transcript);
        return result;
    }

    /// <summary>One MQTT 5 CONNECT by Eclipse Paho; the CONNACK's reason code, or null when Paho saw none before the close.</summary>
    private static async Task<int?> ConnackAsync(BrokerProcess broker, string clientId)
    {
        var result = await Interop.ResultAsync(Interop.StartPaho("connect_once.py", broker, new { clientId, version = 5 }));
        return result.GetProperty("connack") is { ValueKind: JsonValueKind.Number } connack ? connack.GetInt32() : null;
    }

    /// <summary>
    /// Connects again and again (each attempt is the wait) until the CONNACK says <paramref name="code"/>. A ban that
    /// reaches a running node while a CONNECT it matches is being handled there closes that connection: Paho may then
    /// see no CONNACK, which is one more "not yet".
    /// </summary>
    private static async Task ConnackEventuallyAsync(BrokerProcess broker, string clientId, int code, string what)
    {
        var deadline = Stopwatch.StartNew();
        int? seen;
        while ((seen = await ConnackAsync(broker, clientId)) != code)
            Assert.True(deadline.Elapsed < Deadline, $"timed out waiting for {what}: {(seen is { } c ? $"CONNACK 0x{c:X2}" : "no CONNACK")}");
    }
}
