using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Plugins;

/// <summary>The shipped presence plugin, bundled with the broker by the build, against mosquitto clients.</summary>
public sealed class PresenceTests
{
    [Fact]
    public async Task ShippedPlugin_IsFoundWithoutCopying_AndLoadsWithCtl()
    {
        await using var broker = await BrokerProcess.StartAsync();

        var list = await CtlRunner.RunAsync(broker, "plugins", "list");
        Assert.True(list.ExitCode == 0, list.Transcript);
        Assert.Matches(@"(?m)^presence\s+1\.0\.0\s+stopped\s+no\s", list.Stdout);

        var load = await CtlRunner.RunAsync(broker, "plugins", "load", "presence");
        Assert.True(load.ExitCode == 0, load.Transcript);
        Assert.Matches(@"(?m)^presence\s+1\.0\.0\s+running\s+yes\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
    }

    [Fact]
    public async Task ConnectAndDisconnect_ArePublishedAsJson_ToSysTopics()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o.LoadedPlugins.Add("presence"));
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "$SYS/brokers/+/clients/dev-1/+", "-q", "1", "-V", "5");

        await MosquittoClients.PublishAsync(broker, ["-i", "dev-1", "-u", "alice", "-k", "42", "-V", "mqttv311", "-t", "t", "-m", "x"]);

        var messages = await MosquittoClients.MessagesAsync(sub, 2);
        var connected = messages[0];
        Assert.Equal($"$SYS/brokers/{broker.NodeName}/clients/dev-1/connected", connected.Topic);
        Assert.Equal(1, connected.Qos);
        Assert.False(connected.Retain);
        using (var json = JsonDocument.Parse(connected.Payload))
        {
            var root = json.RootElement;
            Assert.Equal("dev-1", root.GetProperty("clientid").GetString());
            Assert.Equal("alice", root.GetProperty("username").GetString());
            Assert.Equal("127.0.0.1", root.GetProperty("ipaddress").GetString());
            Assert.Equal(4, root.GetProperty("proto_ver").GetInt32());
            Assert.Equal(42, root.GetProperty("keepalive").GetInt32());
            Assert.True(root.GetProperty("clean_start").GetBoolean());
            var connectedAt = DateTimeOffset.FromUnixTimeMilliseconds(root.GetProperty("connected_at").GetInt64());
            Assert.InRange(DateTimeOffset.UtcNow - connectedAt, TimeSpan.Zero, TimeSpan.FromMinutes(1));
        }

        var disconnected = messages[1];
        Assert.Equal($"$SYS/brokers/{broker.NodeName}/clients/dev-1/disconnected", disconnected.Topic);
        using (var json = JsonDocument.Parse(disconnected.Payload))
        {
            var root = json.RootElement;
            Assert.Equal("dev-1", root.GetProperty("clientid").GetString());
            Assert.Equal("alice", root.GetProperty("username").GetString());
            Assert.Equal("normal", root.GetProperty("reason").GetString());
            Assert.True(root.GetProperty("disconnected_at").GetInt64() >= root.GetProperty("ts").GetInt64() - 1000);
        }
    }

    [Fact]
    public async Task Qos_FromConf_AndKickReason()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o.LoadedPlugins.Add("presence");
            o.PluginConf["presence"] = "qos = 0\n";
        });
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "$SYS/brokers/+/clients/idle-1/+", "-q", "2");
        await using var idle = await MosquittoClients.SubscribeAsync(broker, "-i", "idle-1", "-t", "nothing");

        var connected = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
        Assert.EndsWith("/connected", connected.Topic, StringComparison.Ordinal);
        Assert.Equal(0, connected.Qos);

        var kick = await CtlRunner.RunAsync(broker, "clients", "kick", "idle-1");
        Assert.True(kick.ExitCode == 0, kick.Transcript);
        var disconnected = (await MosquittoClients.MessagesAsync(sub, 2))[1];
        Assert.EndsWith("/disconnected", disconnected.Topic, StringComparison.Ordinal);
        using var json = JsonDocument.Parse(disconnected.Payload);
        Assert.Equal("kicked", json.RootElement.GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Reload5Times_WhileClientsConnect_EveryConnectIsPublished_UnloadLeavesStopped()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o.LoadedPlugins.Add("presence"));
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "$SYS/brokers/+/clients/+/connected", "-q", "1");

        const int clients = 20;
        var reloads = Task.Run(async () =>
        {
            for (var i = 0; i < 5; i++)
            {
                var reload = await CtlRunner.RunAsync(broker, "plugins", "reload", "presence");
                Assert.True(reload.ExitCode == 0, $"reload {i + 1}: {reload.Transcript}");
            }
        }, TestContext.Current.CancellationToken);
        for (var i = 0; i < clients; i++)
            await MosquittoClients.PublishAsync(broker, ["-i", $"dev-{i}", "-t", "t", "-m", "x"]);
        await reloads;

        // Reload starts the new instance before removing the old one: a connect in that moment may be announced
        // twice, never not at all.
        // Connects are sequential, so the last client's message comes last.
        await sub.WaitForLineAsync(l => l.Contains($"/clients/dev-{clients - 1}/connected", StringComparison.Ordinal),
            MosquittoClients.Timeout, "the last client's connected message");
        var seen = MosquittoClients.MessagesSoFar(sub).Select(m => m.Topic.Split('/')[4]).ToHashSet();
        for (var i = 0; i < clients; i++)
            Assert.Contains($"dev-{i}", seen);

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "presence");
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        Assert.Matches(@"(?m)^presence\s+1\.0\.0\s+stopped\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
    }
}
