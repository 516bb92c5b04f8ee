using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Plugins;

/// <summary>The shipped auto_subscribe plugin (EMQX 4's auto subscription) against mosquitto clients and MQTT.js.</summary>
public sealed class AutoSubscribeTests
{
    private static Task<BrokerProcess> StartAsync(string conf) => BrokerProcess.StartAsync(o =>
    {
        o.LoadedPlugins.Add("auto_subscribe");
        o.PluginConf["auto_subscribe"] = conf;
    });

    /// <summary>(topic filter, QoS, options column) of a session's subscriptions, as `ctl subscriptions list` prints them.</summary>
    private static async Task<IReadOnlyList<(string Topic, int Qos, bool NoLocal, bool Rap, int Rh)>> SubscriptionsOfAsync(BrokerProcess broker, string clientId)
    {
        var list = await CtlRunner.RunAsync(broker, "--json", "subscriptions", "list", clientId);
        Assert.True(list.ExitCode == 0, list.Transcript);
        using var json = JsonDocument.Parse(list.Stdout);
        return [.. json.RootElement.GetProperty("data").EnumerateArray()
            .Select(s => (s.GetProperty("topic").GetString()!, s.GetProperty("qos").GetInt32(), Flag(s, "nl"), Flag(s, "rap"), s.TryGetProperty("rh", out var rh) ? rh.GetInt32() : 0))
            .OrderBy(s => s.Item1, StringComparer.Ordinal)];

        static bool Flag(JsonElement s, string name) => s.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.True;
    }

    [Fact]
    public async Task Connect_ClientIsSubscribedWithoutSubscribe_ReceivesAtConfiguredQos_ListedByCtl()
    {
        await using var broker = await StartAsync("""
            subscription.1.topic = devices/%c/cmd
            subscription.2.topic = users/%u/inbox
            subscription.2.qos = 2
            """);
        // mosquitto_sub must subscribe to something: an unrelated topic, at QoS 0.
        await using var dev1 = await MosquittoClients.SubscribeAsync(broker, "-i", "dev1", "-t", "unrelated", "-q", "0");

        // The auto subscription is QoS 1 (the default); users/%u/inbox is skipped: dev1 sent no user name.
        Assert.Equal([("devices/dev1/cmd", 1, false, false, 0), ("unrelated", 0, false, false, 0)], await SubscriptionsOfAsync(broker, "dev1"));
        var text = await CtlRunner.RunAsync(broker, "subscriptions", "list", "dev1");
        Assert.Matches(@"(?m)^dev1\s+devices/dev1/cmd\s+1\s", text.Stdout);

        await MosquittoClients.PublishAsync(broker, ["-t", "devices/dev2/cmd", "-q", "2", "-m", "not for dev1"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "devices/dev1/cmd", "-q", "2", "-m", "reboot"]);
        var message = (await MosquittoClients.MessagesAsync(dev1, 1))[0];
        Assert.Equal(("devices/dev1/cmd", "reboot", 1), (message.Topic, message.Payload, message.Qos)); // min(2, granted 1)
    }

    [Fact]
    public async Task Connect_UsernamePlaceholder_AndSharedSubscription()
    {
        await using var broker = await StartAsync("""
            subscription.1.topic = users/%u/inbox
            subscription.1.qos = 2
            subscription.2.topic = $share/workers/jobs/#
            subscription.2.qos = 0
            """);
        await using var alice = await MosquittoClients.SubscribeAsync(broker, "-i", "a1", "-u", "alice", "-t", "unrelated", "-q", "0");

        Assert.Equal([("$share/workers/jobs/#", 0, false, false, 0), ("unrelated", 0, false, false, 0), ("users/alice/inbox", 2, false, false, 0)],
            await SubscriptionsOfAsync(broker, "a1"));
        // (Delivery through the share group is not checked here: every client joins it, mosquitto_pub too.)
        await MosquittoClients.PublishAsync(broker, ["-t", "users/alice/inbox", "-q", "2", "-m", "hi"]);
        var message = (await MosquittoClients.MessagesAsync(alice, 1))[0];
        Assert.Equal(("users/alice/inbox", "hi", 2), (message.Topic, message.Payload, message.Qos));
    }

    [Fact]
    public async Task Mqtt5Client_NoLocalAndRetainAsPublished_AreHonoured()
    {
        await using var broker = await StartAsync("""
            subscription.1.topic = chat/room
            subscription.1.qos = 1
            subscription.1.nl = 1
            subscription.1.rap = 1
            """);

        await using var script = Interop.StartNode("auto_subscribe_no_local.js", broker, new { clientId = "nl1", topic = "chat/room" });
        var result = await Interop.ResultAsync(script);

        // Its own message is not sent back [MQTT-3.8.3-3]; QoS is min(2, 1); RETAIN is kept as published [MQTT-3.3.1-12].
        var received = result.GetProperty("received").EnumerateArray()
            .Select(m => (m.GetProperty("payload").GetString(), m.GetProperty("qos").GetInt32(), m.GetProperty("retain").GetBoolean()));
        Assert.Equal([("other", 1, true), ("done", 1, false)], received);
    }

    [Fact]
    public async Task Load_BadValues_CtlExitsOneNamingFileLineAndKeyOfEach()
    {
        await using var broker = await BrokerProcess.StartAsync();
        Directory.CreateDirectory(Path.Combine(broker.HomeDirectory, "etc", "plugins"));
        await File.WriteAllTextAsync(Path.Combine(broker.HomeDirectory, "etc", "plugins", "auto_subscribe.conf"), """
            subscription.1.topic = devices/%c/cmd
            subscription.1.qos = 3
            subscription.2.topic = a/#/b
            subscription.3.topic = c
            subscription.3.rh = 5
            """, TestContext.Current.CancellationToken);

        var load = await CtlRunner.RunAsync(broker, "plugins", "load", "auto_subscribe");

        Assert.Equal(1, load.ExitCode);
        Assert.Contains("auto_subscribe.conf:2: subscription.1.qos = \"3\": must be at most 2", load.Stderr, StringComparison.Ordinal);
        Assert.Contains("auto_subscribe.conf:3: subscription.2.topic = \"a/#/b\": not a valid topic filter", load.Stderr, StringComparison.Ordinal);
        Assert.Contains("auto_subscribe.conf:5: subscription.3.rh = \"5\": must be at most 2", load.Stderr, StringComparison.Ordinal);
        Assert.Matches(@"(?m)^auto_subscribe\s+1\.0\.0\s+failed\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
    }

    [Fact]
    public async Task Reload5Times_EveryConnectIsSubscribed_ConfReread_UnloadLeavesStoppedAndSubscribesNoMore()
    {
        await using var broker = await StartAsync("subscription.1.topic = first/%c\n");
        var conf = Path.Combine(broker.HomeDirectory, "etc", "plugins", "auto_subscribe.conf");
        for (var i = 0; i < 5; i++)
        {
            await File.WriteAllTextAsync(conf, $"subscription.1.topic = gen{i}/%c\n", TestContext.Current.CancellationToken);
            var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", "auto_subscribe");
            Assert.True(reload.ExitCode == 0, $"reload {i + 1}: {reload.Transcript}");

            await using var client = await MosquittoClients.SubscribeAsync(broker, "-i", $"c{i}", "-t", "unrelated", "-q", "0");
            Assert.Equal([$"gen{i}/c{i}", "unrelated"], (await SubscriptionsOfAsync(broker, $"c{i}")).Select(s => s.Topic));
        }

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "auto_subscribe");
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        var list = await CtlRunner.RunAsync(broker, "plugins", "list");
        Assert.Matches(@"(?m)^auto_subscribe\s+1\.0\.0\s+stopped\s+no\s", list.Stdout);
        Assert.DoesNotContain("leak", list.Stdout, StringComparison.OrdinalIgnoreCase);

        await using var late = await MosquittoClients.SubscribeAsync(broker, "-i", "late", "-t", "unrelated", "-q", "0");
        Assert.Equal(["unrelated"], (await SubscriptionsOfAsync(broker, "late")).Select(s => s.Topic));
    }

    [Fact]
    public async Task Connect_WithRetainer_RetainedMessagesArriveAsForASubscribe()
    {
        // Issue 4.4: retained messages are delivered for an auto subscription as for a SUBSCRIBE (the retainer acts on
        // session.subscribed, which Broker.Subscribe runs), with RETAIN set [MQTT-3.3.1-6].
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o.LoadedPlugins.Add("retainer");
            o.LoadedPlugins.Add("auto_subscribe");
            o.PluginConf["auto_subscribe"] = "subscription.1.topic = devices/%c/config\n";
        });
        await MosquittoClients.PublishAsync(broker, ["-t", "devices/dev7/config", "-q", "1", "-r", "-m", "interval=5"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "devices/dev8/config", "-q", "1", "-r", "-m", "not for dev7"]);

        await using var dev7 = MosquittoClients.StartSub(broker, "-i", "dev7", "-t", "unrelated", "-q", "0");

        var message = Assert.Single(await MosquittoClients.MessagesAsync(dev7, 1));
        Assert.Equal(("devices/dev7/config", "interval=5", true, 1), (message.Topic, message.Payload, message.Retain, message.Qos));
    }
}
