using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Plugins;

/// <summary>
/// The shipped retainer plugin against mosquitto clients (MQTT 3.1.1 and 5) and MQTT.js (what mosquitto_sub cannot
/// ask for: Retain Handling, shared subscriptions, Message Expiry). "Nothing more arrived" is checked with a
/// non-retained marker published after the SUBSCRIBE: retained messages are queued right after the SUBACK, so any
/// of them would arrive before it.
/// </summary>
public sealed class RetainerTests
{
    private static Task<BrokerProcess> StartAsync(string? conf = null, Action<BrokerOptions>? configure = null) => BrokerProcess.StartAsync(o =>
    {
        o.LoadedPlugins.Add("retainer");
        if (conf is not null)
        {
            o.PluginConf["retainer"] = conf;
        }

        configure?.Invoke(o);
    });

    private static Task RetainAsync(BrokerProcess broker, string topic, string payload, params string[] extra) =>
        MosquittoClients.PublishAsync(broker, ["-t", topic, "-m", payload, "-r", "-q", "1", .. extra]);

    private static Task DeleteAsync(BrokerProcess broker, string topic, params string[] extra) =>
        MosquittoClients.PublishAsync(broker, ["-t", topic, "-n", "-r", "-q", "1", .. extra]);

    /// <summary>
    /// Subscribes, waits for the <paramref name="expected"/> messages (bounded), then publishes a non-retained marker
    /// on <paramref name="markerTopic"/> and returns what arrived before it. The broker queues retained messages just
    /// after sending the SUBACK, so a marker routed meanwhile could overtake them: waiting first keeps the test
    /// from failing on that, and the marker still shows there are no more than expected.
    /// </summary>
    private static async Task<IReadOnlyList<ReceivedMessage>> RetainedOnSubscribeAsync(BrokerProcess broker, string filter, string markerTopic, int expected, params string[] extra)
    {
        await using var sub = await MosquittoClients.SubscribeAsync(broker, ["-t", filter, "-q", "1", .. extra]);
        if (expected > 0)
        {
            await MosquittoClients.MessagesAsync(sub, expected);
        }

        return await UntilMarkerAsync(broker, sub, markerTopic, 0);
    }

    /// <summary>The messages after the first <paramref name="skip"/> ones, up to a marker published now.</summary>
    private static async Task<IReadOnlyList<ReceivedMessage>> UntilMarkerAsync(BrokerProcess broker, ChildProcess sub, string markerTopic, int skip)
    {
        var marker = "marker-" + Guid.NewGuid().ToString("N");
        await MosquittoClients.PublishAsync(broker, ["-t", markerTopic, "-m", marker, "-q", "1"]);
        await sub.WaitForLineAsync(l => ReceivedMessage.IsMessage(l) && ReceivedMessage.Parse(l).Payload == marker, MosquittoClients.Timeout, "the marker");
        var all = MosquittoClients.MessagesSoFar(sub);
        return [.. all.Skip(skip).TakeWhile(m => m.Payload != marker)];
    }

    [Fact]
    public async Task Mqtt311_RetainedIsReplacedPerTopic_DeletedByEmptyPayload_SentOnSubscribeWithRetainSet()
    {
        await using var broker = await StartAsync();
        await RetainAsync(broker, "a/b", "first", "-V", "mqttv311");
        await RetainAsync(broker, "a/b", "second", "-V", "mqttv311");

        // [MQTT-3.3.1-6] (3.1.1): sent to a new matching subscription; [MQTT-3.3.1-8]: with RETAIN set; only the last
        // one per topic is kept [MQTT-3.3.1-5].
        await using var established = await MosquittoClients.SubscribeAsync(broker, "-t", "a/+", "-q", "1", "-V", "mqttv311");
        await MosquittoClients.MessagesAsync(established, 1);
        var retained = Assert.Single(await UntilMarkerAsync(broker, established, "a/marker", 0));
        Assert.Equal(new ReceivedMessage("a/b", 1, true, "second"), retained);

        // Forwarded to an established subscription: RETAIN cleared [MQTT-3.3.1-9] (3.1.1).
        var skip = MosquittoClients.MessagesSoFar(established).Count;
        await RetainAsync(broker, "a/b", "third", "-V", "mqttv311");
        // A zero-byte retained message removes the retained message [MQTT-3.3.1-10] and is itself forwarded as
        // normal but not stored [MQTT-3.3.1-11].
        await DeleteAsync(broker, "a/b", "-V", "mqttv311");
        var forwarded = await UntilMarkerAsync(broker, established, "a/marker", skip);
        Assert.Equal([new ReceivedMessage("a/b", 1, false, "third"), new ReceivedMessage("a/b", 1, false, "")], forwarded);

        Assert.Empty(await RetainedOnSubscribeAsync(broker, "a/+", "a/marker", 0, "-V", "mqttv311"));
    }

    [Fact]
    public async Task Mqtt5_WildcardFilters_MatchRetainedTopics_ButNotDollarTopicsFromAWildcard()
    {
        await using var broker = await StartAsync();
        foreach (var topic in new[] { "w/x/c", "w/y/c", "w/x/d", "$w/q" })
        {
            await RetainAsync(broker, topic, topic, "-V", "5");
        }

        var plus = await RetainedOnSubscribeAsync(broker, "w/+/c", "w/marker/c", 2, "-V", "5");
        Assert.Equal(["w/x/c", "w/y/c"], plus.Select(m => m.Topic).Order(StringComparer.Ordinal));
        Assert.All(plus, m => Assert.True(m.Retain));

        // [MQTT-4.7.2-1]: a filter starting with a wildcard does not match a topic starting with $.
        var all = await RetainedOnSubscribeAsync(broker, "#", "marker", 3, "-V", "5");
        Assert.Equal(["w/x/c", "w/x/d", "w/y/c"], all.Select(m => m.Topic).Order(StringComparer.Ordinal));
        var dollar = await RetainedOnSubscribeAsync(broker, "$w/#", "$w/marker", 1, "-V", "5");
        Assert.Equal("$w/q", Assert.Single(dollar).Topic);

        // Sent at min(message QoS, granted QoS).
        var qos0 = Assert.Single(await RetainedOnSubscribeAsync(broker, "w/x/d", "w/x/d", 1, "-V", "5", "-q", "0"));
        Assert.Equal(0, qos0.Qos);
    }

    [Fact]
    public async Task Mqtt5_RetainHandling_SharedSubscription_RetainAsPublished_MessageExpiry()
    {
        await using var broker = await StartAsync();
        await using var script = Interop.StartNode("retainer_v5.js", broker, new { timeoutSeconds = 30 });
        var steps = await Interop.ResultAsync(script);

        static JsonElement Single(JsonElement steps, string step)
        {
            var messages = steps.GetProperty(step).GetProperty("messages");
            Assert.True(messages.GetArrayLength() == 1, $"{step}: {steps}");
            return messages[0];
        }

        static string[] Payloads(JsonElement step) =>
            [.. step.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("payload").GetString()!)];

        // [MQTT-3.3.1-9] (5.0): Retain Handling 0 sends at subscribe, with RETAIN set, also for an existing subscription.
        var rh0 = Single(steps, "rh0");
        Assert.Equal(("rv5/a", "A1", true), (rh0.GetProperty("topic").GetString(), rh0.GetProperty("payload").GetString(), rh0.GetProperty("retain").GetBoolean()));
        Assert.Equal(["A1"], Payloads(steps.GetProperty("rh0Existing")));
        // [MQTT-3.3.1-10] (5.0): Retain Handling 1 sends only if the subscription did not exist.
        Assert.Empty(Payloads(steps.GetProperty("rh1Existing")));
        Assert.Equal(["A1"], Payloads(steps.GetProperty("rh1New")));
        // [MQTT-3.3.1-11] (5.0): Retain Handling 2 never sends.
        Assert.Empty(Payloads(steps.GetProperty("rh2New")));
        // 4.8.2: retained messages are not sent when a client subscribes to a shared subscription.
        Assert.Equal([1], steps.GetProperty("shared").GetProperty("granted").EnumerateArray().Select(g => g.GetInt32()));
        Assert.Empty(Payloads(steps.GetProperty("shared")));

        // [MQTT-3.3.1-12] (5.0): forwarding keeps RETAIN only with Retain As Published.
        var forwarded = steps.GetProperty("forwarded").GetProperty("messages").EnumerateArray()
            .ToDictionary(m => m.GetProperty("topic").GetString()!, m => m.GetProperty("retain").GetBoolean());
        Assert.True(forwarded["rap/yes"]);
        Assert.False(forwarded["rap/no"]);

        // [MQTT-3.3.2-5]: a retained message whose Message Expiry Interval has passed is not sent; [MQTT-3.3.2-6]:
        // the one sent carries the lifetime left (published with 100 s, at least 1.3 s ago).
        var expiry = Single(steps, "expiry");
        Assert.Equal("exp/long", expiry.GetProperty("topic").GetString());
        Assert.InRange(expiry.GetProperty("expiry").GetInt32(), 1, 99);
    }

    [Fact]
    public async Task Limits_MaxRetainedMessages_RefusesNewTopicsOnly_MaxPayloadSize_KeepsThePreviousMessage()
    {
        await using var broker = await StartAsync("max_retained_messages = 2\nmax_payload_size = 8\n");
        await RetainAsync(broker, "l/1", "one");
        await RetainAsync(broker, "l/2", "two");
        await RetainAsync(broker, "l/3", "three");       // full: a new topic is not stored
        await RetainAsync(broker, "l/1", "uno");         // replacing still works
        await RetainAsync(broker, "l/2", "0123456789");  // over max_payload_size: l/2 keeps "two"

        var retained = await RetainedOnSubscribeAsync(broker, "l/#", "l/marker", 2);
        Assert.Equal(["l/1=uno", "l/2=two"], retained.Select(m => $"{m.Topic}={m.Payload}").Order(StringComparer.Ordinal));
        await broker.WaitForLogAsync(l => l.Contains("max_retained_messages reached", StringComparison.Ordinal), "the full-store warning");
        await broker.WaitForLogAsync(l => l.Contains("over max_payload_size", StringComparison.Ordinal), "the too-large warning");

        // Deleting frees a place for a new topic.
        await DeleteAsync(broker, "l/2");
        await RetainAsync(broker, "l/3", "three");
        Assert.Equal(["l/1", "l/3"], (await RetainedOnSubscribeAsync(broker, "l/#", "l/marker", 2)).Select(m => m.Topic).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task Disc_RetainedMessagesSurviveABrokerRestart()
    {
        var first = await StartAsync("storage_type = disc\n");
        await using var _ = first;
        for (var i = 0; i < 20; i++)
        {
            await RetainAsync(first, $"d/{i}", $"v{i}", "-V", "5", "-D", "publish", "user-property", "k", $"u{i}");
        }

        await DeleteAsync(first, "d/0");
        await RetainAsync(first, "d/1", "replaced");

        await using var second = await first.RestartAsync();
        Assert.True(File.Exists(Path.Combine(second.HomeDirectory, "data", "plugins", "retainer", "retained.snapshot")));
        var retained = await RetainedOnSubscribeAsync(second, "d/#", "d/marker", 19, "-V", "5");
        Assert.Equal(
            Enumerable.Range(1, 19).Select(i => $"d/{i}=" + (i == 1 ? "replaced" : $"v{i}")).Order(StringComparer.Ordinal),
            retained.Select(m => $"{m.Topic}={m.Payload}").Order(StringComparer.Ordinal));
        Assert.All(retained, m => Assert.True(m.Retain && m.Qos == 1));
    }

    [Fact]
    public async Task Ram_KeptAcrossReloadAndUnloadLoad_ButNotABrokerRestart()
    {
        var first = await StartAsync();
        await using var _ = first;
        await RetainAsync(first, "r/1", "kept");

        var reload = await CtlRunner.RunAsync(first, "plugins", "reload", "retainer");
        Assert.True(reload.ExitCode == 0, reload.Transcript);
        Assert.Equal("kept", Assert.Single(await RetainedOnSubscribeAsync(first, "r/#", "r/marker", 1)).Payload);

        var unload = await CtlRunner.RunAsync(first, "plugins", "unload", "retainer");
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        Assert.Empty(await RetainedOnSubscribeAsync(first, "r/#", "r/marker", 0));
        var load = await CtlRunner.RunAsync(first, "plugins", "load", "retainer");
        Assert.True(load.ExitCode == 0, load.Transcript);
        Assert.Equal("kept", Assert.Single(await RetainedOnSubscribeAsync(first, "r/#", "r/marker", 1)).Payload);

        await using var second = await first.RestartAsync();
        Assert.Empty(await RetainedOnSubscribeAsync(second, "r/#", "r/marker", 0));
    }

    [Fact]
    public async Task ShippedConf_LoadsWithTheCheckoutAsHome_AndRetainedCountGaugeFollowsChanges()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o.HomeContent["etc/plugins/retainer.conf"] = Path.Combine(Tools.RepoRoot, "etc", "plugins", "retainer.conf");
            // As with the checkout as home (scripts/start.sh): plugins/retainer/ holds the sources' plugin.json but no
            // build output, and the copy bundled with the broker is the one started.
            o.HomeContent["plugins/retainer/plugin.json"] = Path.Combine(Tools.RepoRoot, "plugins", "retainer", "plugin.json");
            o.LoadedPlugins.Add("retainer");
            o["broker.sys_interval"] = "1s";
        });
        await broker.WaitForLogAsync(l => l.Contains("retainer: started (storage_type Ram)", StringComparison.Ordinal), "the retainer's start line");
        // -R: only the values published from now on, not the retained one sent on subscribe.
        await using var gauge = await MosquittoClients.SubscribeAsync(broker, "-t", "$SYS/brokers/+/stats/retained/count", "-q", "0", "-R");
        await RetainAsync(broker, "g/1", "x");
        await RetainAsync(broker, "g/2", "x");

        // $SYS topics are retained too. The second value from now is from a $SYS round that began after our
        // publishes and after a whole round had been stored: from then on the count moves only with ours.
        var seen = MosquittoClients.MessagesSoFar(gauge).Count;
        var baseline = int.Parse((await MosquittoClients.MessagesAsync(gauge, seen + 2))[seen + 1].Payload, System.Globalization.CultureInfo.InvariantCulture);
        Assert.True(baseline >= 2, $"retained count {baseline}");
        await DeleteAsync(broker, "g/1");
        var expected = (baseline - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        await gauge.WaitForLineAsync(l => ReceivedMessage.IsMessage(l) && ReceivedMessage.Parse(l).Payload == expected, MosquittoClients.Timeout, $"retained count {expected}");
    }

    [Theory]
    [InlineData("ram")]
    [InlineData("disc")]
    public async Task Reload10Times_WhilePublishingAndSubscribing_NothingLost_NoClientDisconnected_ThenUnloadsClean(string storageType)
    {
        await using var broker = await StartAsync($"storage_type = {storageType}\n", o => o["session.max_mqueue_len"] = "1000000");
        await using var load = Interop.StartNode("retainer_reload.js", broker, new { publishers = 10, timeoutSeconds = 240 });
        await Interop.WaitForEventAsync(load, "ready", TimeSpan.FromSeconds(60));

        for (var i = 0; i < 10; i++)
        {
            var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", "retainer");
            Assert.True(reload.ExitCode == 0, $"reload {i + 1}: {reload.Transcript}");
        }

        await MosquittoClients.PublishAsync(broker, ["-t", "control/stop", "-q", "1", "-m", "stop"]);
        var result = await Interop.ResultAsync(load, TimeSpan.FromSeconds(60));
        // Each reload went through the hand-over, not through an empty start.
        Assert.Equal(10, broker.Transcript.Split('\n').Count(l => l.Contains("over to the reloaded instance", StringComparison.Ordinal)));
        Assert.True(result.GetProperty("rounds").GetInt32() >= 3, result.ToString());
        Assert.True(result.GetProperty("acknowledged").GetInt32() > 100, result.ToString());
        Assert.True(result.GetProperty("misses").GetArrayLength() == 0, result.ToString());
        Assert.Equal(0, result.GetProperty("disconnects").GetInt32());

        // After the traffic, every topic's last acknowledged message is the retained one.
        var last = result.GetProperty("lastAcked").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var retained = await RetainedOnSubscribeAsync(broker, "retained/#", "retained/marker", last.Length);
        Assert.Equal(
            last.Select((seq, i) => $"retained/{i}={seq}").Order(StringComparer.Ordinal),
            retained.Select(m => $"{m.Topic}={m.Payload}").Order(StringComparer.Ordinal));

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "retainer");
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        Assert.Matches(@"(?m)^retainer\s+1\.0\.0\s+stopped\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
    }

    [Fact]
    public async Task HandoffTopic_PublishedThroughTheManagementApi_DoesNotDisturbTheRetainer()
    {
        // The reload hand-over message is a plugin's own system message; one an operator publishes by hand (no
        // client, like the plugin's) must be an ordinary message, never a hand-over that idles the running retainer.
        await using var broker = await StartAsync();
        using var http = broker.CreateManagementClient();
        using var body = new StringContent("""{"topic":"$retainer/handoff","payload":"forged"}""", System.Text.Encoding.UTF8, "application/json");
        using var response = await http.PostAsync(new Uri("api/v4/mqtt/publish", UriKind.Relative), body, TestContext.Current.CancellationToken);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        await RetainAsync(broker, "after/forgery", "still stored");

        var retained = await RetainedOnSubscribeAsync(broker, "after/#", "after/marker", 1);
        Assert.Equal("still stored", Assert.Single(retained).Payload);
    }
}
