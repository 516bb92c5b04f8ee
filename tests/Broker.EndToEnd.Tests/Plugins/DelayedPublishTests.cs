using System.Collections.Concurrent;
using System.Diagnostics;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Plugins;

/// <summary>
/// The shipped delayed_publish plugin (EMQX's delayed publish) against the real broker: mosquitto clients for
/// delivery and timing, MQTT.js for MQTT 5 reason codes and for traffic during reloads, paho for properties.
/// </summary>
public sealed class DelayedPublishTests
{
    private const string Name = "delayed_publish";

    /// <summary>Timer and clock granularity: a message may not arrive earlier than its delay minus this.</summary>
    private static readonly TimeSpan s_tolerance = TimeSpan.FromMilliseconds(20);

    private static Task<BrokerProcess> StartAsync(string? conf = null, Action<BrokerOptions>? more = null) => BrokerProcess.StartAsync(o =>
    {
        o.LoadedPlugins.Add(Name);
        if (conf is not null)
            o.PluginConf[Name] = conf;
        more?.Invoke(o);
    });

    /// <summary>Records when each message line of a subscriber arrived (attach before publishing).</summary>
    private sealed class Arrivals
    {
        private readonly ConcurrentQueue<(long Timestamp, string Line)> _lines = new();

        public Arrivals(ChildProcess sub) => sub.LineReceived += line =>
        {
            if (ReceivedMessage.IsMessage(line))
                _lines.Enqueue((Stopwatch.GetTimestamp(), line));
        };

        /// <summary>When the first message with this payload arrived, measured from <paramref name="since"/>.</summary>
        public TimeSpan Of(string payload, long since) =>
            Stopwatch.GetElapsedTime(since, _lines.First(l => ReceivedMessage.Parse(l.Line).Payload == payload).Timestamp);
    }

    private static void AssertAfterDelay(TimeSpan arrived, TimeSpan delay, TimeSpan slack)
    {
        Assert.True(arrived >= delay - s_tolerance, $"arrived {arrived.TotalMilliseconds:0} ms after publishing, before its {delay.TotalSeconds:0} s delay");
        Assert.True(arrived <= delay + slack, $"arrived {arrived.TotalMilliseconds:0} ms after publishing, long after its {delay.TotalSeconds:0} s delay");
    }

    private static async Task<int[]> ReasonCodesAsync(BrokerProcess broker, params (string Topic, int Qos)[] publishes)
    {
        await using var client = Interop.StartNode("delayed_reason_codes.js", broker, new { publishes = publishes.Select(p => new { topic = p.Topic, qos = p.Qos }) });
        var result = await Interop.ResultAsync(client);
        Assert.False(result.GetProperty("disconnected").GetBoolean(), "the publisher was disconnected");
        return [.. result.GetProperty("codes").EnumerateArray().Select(c => c.GetInt32())];
    }

    [Fact]
    public async Task DelayedMessage_ArrivesAtTarget_AfterItsDelay_NotBefore_WithQosRetainAndPayload()
    {
        await using var broker = await StartAsync();
        // One subscriber on the target and on $delayed/#: a $delayed message that was routed as published would
        // arrive there first, at once.
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-V", "5", "-q", "2", "--retain-as-published", "-t", "t/#", "-t", "$delayed/#");
        var arrivals = new Arrivals(sub);

        var sent = Stopwatch.GetTimestamp();
        await using (var pub = MosquittoClients.StartPub(broker, ["-V", "5", "-q", "1", "-r", "-t", "$delayed/2/t/a", "-m", "hello"]))
        {
            Assert.Equal(0, await pub.WaitForExitAsync(MosquittoClients.Timeout));
            // Accepted for later: PUBACK Success, not 0x10 No matching subscribers (nobody subscribes to $delayed/2/t/a).
            Assert.Contains("received PUBACK (Mid: 1, RC:0)", pub.Transcript, StringComparison.Ordinal);
        }

        var message = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
        Assert.Equal(new ReceivedMessage("t/a", 1, true, "hello"), message);
        AssertAfterDelay(arrivals.Of("hello", sent), TimeSpan.FromSeconds(2), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task Mqtt5Properties_AreKept()
    {
        await using var broker = await StartAsync();
        await using var subscriber = Interop.StartPaho("receive_properties.py", broker, new { topic = "props/x" });
        await Interop.WaitForEventAsync(subscriber, "subscribed");

        // [MQTT-3.3.2-15..20]: the server forwards these properties unchanged; a delay changes nothing.
        await using var publisher = Interop.StartNode("publish_properties.js", broker, new { topic = "$delayed/1/props/x" });
        await Interop.ResultAsync(publisher);
        var message = await Interop.ResultAsync(subscriber);

        Assert.Equal("with properties", message.GetProperty("payload").GetString());
        Assert.Equal(1, message.GetProperty("payloadFormatIndicator").GetInt32());
        Assert.Equal("application/json; charset=utf-8", message.GetProperty("contentType").GetString());
        Assert.Equal("reply/to/me", message.GetProperty("responseTopic").GetString());
        Assert.Equal("0001feff", message.GetProperty("correlationData").GetString());
        Assert.Equal(4, message.GetProperty("userProperties").GetArrayLength());
    }

    [Fact]
    public async Task BadDelayedTopics_Mqtt5_AreRefusedWithReasonCodes_AndNotRouted()
    {
        await using var broker = await StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-V", "5", "-q", "1", "-t", "t", "-t", "$delayed/#", "-t", "$SYS/x");

        var codes = await ReasonCodesAsync(broker,
            ("$delayed/abc/t", 1),       // not a number
            ("$delayed/-1/t", 1),        // negative
            ("$delayed/1.5/t", 1),       // not whole seconds
            ("$delayed/5", 1),           // no topic
            ("$delayed/5/", 1),          // empty topic
            ("$delayed/1/$SYS/x", 1),    // $ topics are the broker's
            ("$delayed/4294968/t", 1),   // above max_delay (4294967 s)
            ("$delayed/x/t", 2),         // PUBREC carries the code as PUBACK does
            ("$delayed/1/t", 1),         // accepted: Success, though nobody subscribes to the $delayed topic
            ("$delayed/1/t", 2),
            ("plain/nobody", 1));        // control: an ordinary message with no subscriber is 0x10

        // 3.4.2.1 / 3.5.2.1: 0x90 Topic Name invalid "is not malformed, but is not accepted"; 0x83 "valid but the
        // receiver is not willing to accept it".
        // ($delayed/1/a/+ never reaches the plugin: a wildcard makes the PUBLISH malformed [MQTT-3.3.2-2].)
        Assert.Equal([0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0x83, 0x90, 0x00, 0x00, 0x10], codes);
        var messages = await MosquittoClients.MessagesAsync(sub, 2);
        Assert.All(messages, m => Assert.Equal("t", m.Topic));
        Assert.Equal(2, MosquittoClients.MessagesSoFar(sub).Count);
    }

    [Fact]
    public async Task BadDelayedTopic_Mqtt311_IsDropped_PublisherAcknowledgedAsUsual()
    {
        await using var broker = await StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-V", "mqttv311", "-q", "1", "-t", "t", "-t", "$delayed/#");

        // 3.1.1 PUBACK has no reason code: the publisher sees an ordinary acknowledgement and the message is gone.
        await MosquittoClients.PublishAsync(broker, ["-V", "mqttv311", "-q", "1", "-t", "$delayed/abc/t", "-m", "bad"]);
        await MosquittoClients.PublishAsync(broker, ["-V", "mqttv311", "-q", "1", "-t", "$delayed/0/t", "-m", "good"]);
        await MosquittoClients.PublishAsync(broker, ["-V", "mqttv311", "-q", "1", "-t", "$delayed/-1/t", "-m", "bad"]);
        await MosquittoClients.PublishAsync(broker, ["-V", "mqttv311", "-q", "1", "-t", "$delayed/1/t", "-m", "last"]);

        var messages = await MosquittoClients.MessagesAsync(sub, 2);
        Assert.Equal([new ReceivedMessage("t", 1, false, "good"), new ReceivedMessage("t", 1, false, "last")], messages);
        Assert.Equal(2, MosquittoClients.MessagesSoFar(sub).Count);
    }

    [Fact]
    public async Task MessageExpiry_CountsFromTheOriginalPublish_ExpiredWhileDelayed_IsNotPublished()
    {
        await using var broker = await StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-V", "5", "-q", "1", "-t", "t");

        // [MQTT-3.3.2-5]: a message whose expiry interval has passed before delivery could start is deleted; the time
        // it waited for its delay counts.
        await MosquittoClients.PublishAsync(broker, ["-V", "5", "-q", "1", "-t", "$delayed/2/t", "-m", "expired", "-D", "publish", "message-expiry-interval", "1"]);
        await MosquittoClients.PublishAsync(broker, ["-V", "5", "-q", "1", "-t", "$delayed/2/t", "-m", "alive", "-D", "publish", "message-expiry-interval", "60"]);

        Assert.Equal("alive", (await MosquittoClients.MessagesAsync(sub, 1))[0].Payload);
        await MosquittoClients.PublishAsync(broker, ["-V", "5", "-q", "1", "-t", "t", "-m", "end"]);
        Assert.Equal(["alive", "end"], (await MosquittoClients.MessagesAsync(sub, 2)).Select(m => m.Payload));
    }

    [Fact]
    public async Task MaxDelayedMessages_And_MaxDelay_FromConf_QuotaExceededAndImplementationSpecificError()
    {
        await using var broker = await StartAsync("max_delayed_messages = 2\nmax_delay = 10s\n");

        var codes = await ReasonCodesAsync(broker,
            ("$delayed/5/t", 1),
            ("$delayed/10/t", 1),
            ("$delayed/5/t", 1),   // a third pending message: 0x97 Quota exceeded
            ("$delayed/5/t", 2),
            ("$delayed/11/t", 1)); // above max_delay is refused whatever the count

        Assert.Equal([0x00, 0x00, 0x97, 0x97, 0x83], codes);
    }

    [Fact]
    public async Task Acl_IsCheckedOnTheDelayedTopicAsPublished()
    {
        await using var broker = await StartAsync(more: o => o.AclConf = """
            {deny, all, publish, ["$delayed/+/secret/#"]}.
            {allow, all}.
            """);

        var codes = await ReasonCodesAsync(broker, ("$delayed/1/secret/x", 1), ("$delayed/1/open/x", 1));

        Assert.Equal([0x87, 0x00], codes);
    }

    [Fact]
    public async Task Reload_UnderTraffic_EveryDelayedMessageExactlyOnce_NoneEarly_NoClientDisconnected()
    {
        await using var broker = await StartAsync(more: o => o["session.max_mqueue_len"] = "10000000");
        await using var load = Interop.StartNode("delayed_reload.js", broker, new { publishers = 10, timeoutSeconds = 240 });
        await Interop.WaitForEventAsync(load, "ready");

        for (var i = 0; i < 5; i++)
        {
            var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", Name);
            Assert.True(reload.ExitCode == 0, $"reload {i + 1}: {reload.Transcript}");
        }
        await MosquittoClients.PublishAsync(broker, ["-t", "control/stop", "-q", "1", "-m", "stop"]);

        var result = await Interop.ResultAsync(load, TimeSpan.FromSeconds(60));
        var acknowledged = result.GetProperty("acknowledged").GetInt32();
        Assert.True(acknowledged > 100, $"only {acknowledged} delayed messages were published during the reloads");
        Assert.Equal(0, result.GetProperty("refused").GetInt32());
        Assert.Equal(acknowledged, result.GetProperty("received").GetInt32());
        Assert.Equal(0, result.GetProperty("duplicates").GetInt32());
        Assert.Equal(0, result.GetProperty("early").GetInt32());
        Assert.Equal(0, result.GetProperty("disconnects").GetInt32());
        // The reloads happened while messages were pending: some were handed from one instance to the next.
        await broker.WaitForLogAsync(
            l => l.Contains(" pending messages handed over to the new instance", StringComparison.Ordinal) && !l.Contains("delayed_publish: 0 pending", StringComparison.Ordinal),
            "a hand-over of pending messages");

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", Name);
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        var list = await CtlRunner.RunAsync(broker, "plugins", "list");
        Assert.Matches(@"(?m)^delayed_publish\s+1\.0\.0\s+stopped\s", list.Stdout);
    }

    [Fact]
    public async Task Unload_KeepsPendingMessages_ForTheNextLoad_RamStorage()
    {
        await using var broker = await StartAsync("storage_type = ram\n");
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-q", "1", "-t", "t");
        var arrivals = new Arrivals(sub);
        var file = Path.Combine(broker.HomeDirectory, "data", "plugins", Name, "pending.bin");

        var sent = Stopwatch.GetTimestamp();
        // 5 s: time enough to unload before it is due, even on a busy machine (the saved count below checks it).
        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "$delayed/5/t", "-m", "kept"]);
        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", Name);
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        await broker.WaitForLogAsync(l => l.Contains("1 pending messages saved", StringComparison.Ordinal), "the unloaded plugin saving its message");
        Assert.Matches(@"(?m)^delayed_publish\s+1\.0\.0\s+stopped\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
        Assert.True(File.Exists(file), "the unloaded plugin left its pending message nowhere");
        Assert.Empty(MosquittoClients.MessagesSoFar(sub));

        var load = await CtlRunner.RunAsync(broker, "plugins", "load", Name);
        Assert.True(load.ExitCode == 0, load.Transcript);
        Assert.False(File.Exists(file), "ram storage keeps nothing on disk while running");

        Assert.Equal("kept", Assert.Single(await MosquittoClients.MessagesAsync(sub, 1)).Payload);
        AssertAfterDelay(arrivals.Of("kept", sent), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10));
        // Exactly once: a message published after it arrives after it, with nothing in between.
        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", "$delayed/0/t", "-m", "next"]);
        Assert.Equal(["kept", "next"], (await MosquittoClients.MessagesAsync(sub, 2)).Select(m => m.Payload));
    }

    [Fact]
    public async Task DiscStorage_PendingMessagesSurviveARestart_OverdueOnesArePublishedAtStart()
    {
        const int OverdueSeconds = 3, KeptSeconds = 15;
        var saved = Path.Combine(Directory.CreateTempSubdirectory("delayed-e2e-").FullName, "pending.bin");
        long sent;
        await using (var first = await StartAsync())
        {
            sent = Stopwatch.GetTimestamp();
            await MosquittoClients.PublishAsync(first, ["-q", "1", "-t", $"$delayed/{OverdueSeconds}/t/overdue", "-m", "overdue"]);
            await MosquittoClients.PublishAsync(first, ["-q", "1", "-t", $"$delayed/{KeptSeconds}/t/kept", "-m", "kept"]);
            first.Signal("TERM");
            Assert.Equal(0, await first.WaitForExitAsync(TimeSpan.FromSeconds(10)));
            Assert.Contains("2 pending messages saved", first.Transcript, StringComparison.Ordinal);
            File.Copy(Path.Combine(first.HomeDirectory, "data", "plugins", Name, "pending.bin"), saved);
        }

        // The broker stays down until the first message is overdue: the time passing is the scenario, not a wait
        // for something to happen.
        var down = TimeSpan.FromSeconds(OverdueSeconds) - Stopwatch.GetElapsedTime(sent);
        if (down > TimeSpan.Zero)
            await Task.Delay(down, TestContext.Current.CancellationToken);

        await using var second = await StartAsync(more: o => o.HomeContent[$"data/plugins/{Name}/pending.bin"] = saved);
        // The overdue message went out as the plugin started, before the listener opened (no session survives a
        // restart to receive it); the other one is still pending.
        Assert.Contains("2 pending messages taken over", second.Transcript, StringComparison.Ordinal);
        Assert.Contains("1 of them overdue", second.Transcript, StringComparison.Ordinal);
        await using var sub = await MosquittoClients.SubscribeAsync(second, "-q", "1", "-t", "t/#");
        var arrivals = new Arrivals(sub);

        Assert.Equal(new ReceivedMessage("t/kept", 1, false, "kept"), Assert.Single(await MosquittoClients.MessagesAsync(sub, 1, TimeSpan.FromSeconds(30))));
        AssertAfterDelay(arrivals.Of("kept", sent), TimeSpan.FromSeconds(KeptSeconds), TimeSpan.FromSeconds(10));
        await MosquittoClients.PublishAsync(second, ["-q", "1", "-t", "t/end", "-m", "end"]);
        Assert.Equal(["kept", "end"], (await MosquittoClients.MessagesAsync(sub, 2)).Select(m => m.Payload));
    }
}
