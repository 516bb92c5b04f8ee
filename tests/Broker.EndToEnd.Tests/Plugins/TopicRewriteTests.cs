using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Plugins;

/// <summary>The shipped topic_rewrite plugin (EMQX 4's topic rewrite) against mosquitto clients and MQTT.js.</summary>
public sealed class TopicRewriteTests
{
    private static Task<BrokerProcess> StartAsync(string conf, Action<BrokerOptions>? configure = null) => BrokerProcess.StartAsync(o =>
    {
        o.LoadedPlugins.Add("topic_rewrite");
        o.PluginConf["topic_rewrite"] = conf;
        configure?.Invoke(o);
    });

    /// <summary>The topic filters a session holds, as the management API lists them.</summary>
    private static async Task<IReadOnlyList<string>> SubscriptionsOfAsync(BrokerProcess broker, string clientId)
    {
        var list = await CtlRunner.RunAsync(broker, "--json", "subscriptions", "list", clientId);
        Assert.True(list.ExitCode == 0, list.Transcript);
        using var json = JsonDocument.Parse(list.Stdout);
        return [.. json.RootElement.GetProperty("data").EnumerateArray().Select(s => s.GetProperty("topic").GetString()!).Order(StringComparer.Ordinal)];
    }

    [Fact]
    public async Task Publish_RewrittenByFirstMatchingRule_RoutedUnderTheNewTopicOnly_AuthorizedWithTheOriginal()
    {
        await using var broker = await StartAsync(
            "rewrite.pub_rule.1 = x/# ^x/y/(.+)$ z/y/$1\nrewrite.rule.2 = y/+/z/# ^y/(.+)/z/(.+)$ y/z/$2\n",
            // EMQX 4 order: the ACL sees the topic the client sent, not the rewritten one.
            o => o.AclConf = "{deny, all, publish, [\"z/y/#\"]}.\n");
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "x/#", "-t", "z/#", "-t", "y/#", "-q", "1");

        await MosquittoClients.PublishAsync(broker, ["-t", "x/y/1", "-q", "1", "-m", "one"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "y/a/z/b", "-q", "1", "-m", "two"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "x/1/2", "-q", "1", "-m", "three"]); // rule 1's filter matches, its regex does not

        // One message each, in order: the originals under x/ and y/a/ were not routed as well.
        var messages = await MosquittoClients.MessagesAsync(sub, 3);
        Assert.Equal([("z/y/1", "one"), ("y/z/b", "two"), ("x/1/2", "three")], messages.Select(m => (m.Topic, m.Payload)));
    }

    [Fact]
    public async Task Publish_ClientIdAndUsername_AreSubstituted()
    {
        await using var broker = await StartAsync("rewrite.rule.1 = up/# ^up/(.+)$ clients/%c/users/%u/$1\n");
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "clients/#", "-q", "1");

        await MosquittoClients.PublishAsync(broker, ["-i", "dev1", "-u", "alice", "-t", "up/temp", "-q", "1", "-m", "21"]);

        var message = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
        Assert.Equal("clients/dev1/users/alice/temp", message.Topic);
    }

    [Fact]
    public async Task Subscribe_FilterIsRewritten_SharePrefixKept_OriginalTopicNotReceived()
    {
        await using var broker = await StartAsync("rewrite.sub_rule.1 = old/# ^old/(.+)$ new/$1\n");
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "s1", "-t", "old/a", "-t", "$share/g/old/b", "-q", "1");

        Assert.Equal(["$share/g/new/b", "new/a"], await SubscriptionsOfAsync(broker, "s1"));

        // sub_rule leaves PUBLISH alone: old/a goes to old/a, which nobody holds now.
        await MosquittoClients.PublishAsync(broker, ["-t", "old/a", "-q", "1", "-m", "not for s1"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "new/a", "-q", "1", "-m", "first"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "new/b", "-q", "1", "-m", "second"]);
        var messages = await MosquittoClients.MessagesAsync(sub, 2);
        Assert.Equal([("new/a", "first"), ("new/b", "second")], messages.Select(m => (m.Topic, m.Payload)));
    }

    [Fact]
    public async Task Unsubscribe_OriginalFilter_RemovesTheRewrittenSubscription()
    {
        await using var broker = await StartAsync("rewrite.rule.1 = old/# ^old/(.+)$ new/$1\n");
        // MQTT 3.1.1 clean session 0: the session and its subscriptions outlive the first mosquitto_sub.
        await using (await MosquittoClients.SubscribeAsync(broker, "-i", "u1", "-c", "-t", "old/a", "-t", "keep", "-q", "1"))
        {
        }
        Assert.Equal(["keep", "new/a"], await SubscriptionsOfAsync(broker, "u1"));

        // mosquitto_sub sends its SUBSCRIBE, then the UNSUBSCRIBE for -U.
        await using var again = MosquittoClients.StartSub(broker, "-i", "u1", "-c", "-t", "keep", "-U", "old/a", "-q", "1");
        await again.WaitForLineAsync(l => l.Contains("received UNSUBACK", StringComparison.Ordinal), MosquittoClients.Timeout, "mosquitto_sub's UNSUBACK");

        Assert.Equal(["keep"], await SubscriptionsOfAsync(broker, "u1"));
    }

    [Fact]
    public async Task Load_BadLines_CtlExitsOneNamingFileLineAndKeyOfEach()
    {
        await using var broker = await BrokerProcess.StartAsync();
        Directory.CreateDirectory(Path.Combine(broker.HomeDirectory, "etc", "plugins"));
        await File.WriteAllTextAsync(Path.Combine(broker.HomeDirectory, "etc", "plugins", "topic_rewrite.conf"), """
            # two good rules, three bad ones
            rewrite.rule.1 = a/# ^a/(.+)$ b/$1
            rewrite.rule.2 = c/# ^c/(.+)$
            rewrite.pub_rule.3 = d/# ^d/(.+$ e/$1
            rewrite.sub_rule.4 = f/#/g ^f$ h
            rewrite.sub_rule.5 = i/# ^i/(.+)$ j/$1
            """, TestContext.Current.CancellationToken);

        var load = await CtlRunner.RunAsync(broker, "plugins", "load", "topic_rewrite");

        Assert.Equal(1, load.ExitCode);
        Assert.Contains("topic_rewrite.conf:3: rewrite.rule.2 = \"c/# ^c/(.+)$\": expected three parts", load.Stderr, StringComparison.Ordinal);
        Assert.Contains("topic_rewrite.conf:4: rewrite.pub_rule.3 = \"d/# ^d/(.+$ e/$1\": regex '^d/(.+$' is invalid", load.Stderr, StringComparison.Ordinal);
        Assert.Contains("topic_rewrite.conf:5: rewrite.sub_rule.4 = \"f/#/g ^f$ h\": filter 'f/#/g' is not a valid topic filter", load.Stderr, StringComparison.Ordinal);
        Assert.DoesNotContain("rewrite.rule.1", load.Stderr, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^topic_rewrite\s+1\.0\.0\s+failed\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
    }

    [Fact]
    public async Task Reload5Times_Qos1PublishersThroughARewrite_NothingLostNoDisconnect_UnloadLeavesStopped()
    {
        // What is under test is the reloads; a regex overrunning rewrite.regex_timeout leaves a topic unchanged by design
        // (TopicRewritePluginTests.TryRewrite_CatastrophicRegex_TimesOut_LeavesTopic), and on a loaded machine a thread not
        // running once made this one overrun the default 100ms, which cost the count one message.
        await using var broker = await StartAsync("rewrite.pub_rule.1 = old/# ^old/(.+)$ new/$1\nrewrite.regex_timeout = 10s\n", o => o["session.max_mqueue_len"] = "10000000");
        await using var load = Interop.StartNode("reload_publishers.js", broker, new { publishers = 10, publishPrefix = "old", receivePrefix = "new", timeoutSeconds = 120 });
        await Interop.WaitForEventAsync(load, "ready");

        for (var i = 0; i < 5; i++)
        {
            var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", "topic_rewrite");
            Assert.True(reload.ExitCode == 0, $"reload {i + 1}: {reload.Transcript}");
        }
        await MosquittoClients.PublishAsync(broker, ["-t", "control/stop", "-q", "1", "-m", "stop"]);

        var result = await Interop.ResultAsync(load, TimeSpan.FromSeconds(60));
        var acknowledged = result.GetProperty("acknowledged").GetInt32();
        Assert.True(acknowledged > 10, $"only {acknowledged} messages were published during the reloads");
        Assert.Equal(acknowledged, result.GetProperty("received").GetInt32());
        Assert.Equal(0, result.GetProperty("duplicates").GetInt32());
        Assert.Equal(0, result.GetProperty("notRewritten").GetInt32()); // no window without the rule
        Assert.Equal(0, result.GetProperty("disconnects").GetInt32());

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "topic_rewrite");
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        var list = await CtlRunner.RunAsync(broker, "plugins", "list");
        Assert.Matches(@"(?m)^topic_rewrite\s+1\.0\.0\s+stopped\s+no\s", list.Stdout);
        Assert.DoesNotContain("leak", list.Stdout, StringComparison.OrdinalIgnoreCase);
    }
}
