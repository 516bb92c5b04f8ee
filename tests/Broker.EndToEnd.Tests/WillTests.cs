using System.Diagnostics;
using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>Will messages: published when a client dies, kept back on a normal DISCONNECT.</summary>
public sealed class WillTests
{
    // [MQTT-3.1.2-8] the will is published when the network connection closes without a DISCONNECT.
    [Theory]
    [InlineData("mqttv311")]
    [InlineData("mqttv5")]
    public async Task Will_ClientKilled_WillPublished(string version)
    {
        await using var broker = await BrokerProcess.StartAsync();
        var willTopic = $"will/killed/{version}";
        await using var watcher = await MosquittoClients.SubscribeAsync(broker, "-V", version, "-q", "1", "-t", willTopic);
        await using var doomed = await MosquittoClients.SubscribeAsync(
            broker, "-V", version, "-i", $"doomed-{version}", "-t", "will/unused", "-k", "60",
            "--will-topic", willTopic, "--will-payload", "gone", "--will-qos", "1");

        doomed.Signal("KILL");

        var will = Assert.Single(await MosquittoClients.MessagesAsync(watcher, 1));
        Assert.Equal((willTopic, "gone", 1), (will.Topic, will.Payload, will.Qos));
    }

    // [MQTT-3.1.2-17] a will with Will Retain 1 is published as a retained message.
    [Fact]
    public async Task Will_RetainFlagSet_ArrivesRetainedAtRetainAsPublishedSubscriber()
    {
        // The will keeps its Will Retain flag [MQTT-3.1.2-17]; a 5.0 subscription with Retain As Published sees the
        // flag as published [MQTT-3.3.1-13]. (Storing it for later subscribers is the retainer plugin's job.)
        await using var broker = await BrokerProcess.StartAsync();
        const string willTopic = "will/retained";
        await using var watcher = await MosquittoClients.SubscribeAsync(broker, "-V", "mqttv5", "--retain-as-published", "-q", "1", "-t", willTopic);
        await using var doomed = await MosquittoClients.SubscribeAsync(
            broker, "-i", "doomed-retain", "-t", "will/unused",
            "--will-topic", willTopic, "--will-payload", "last words", "--will-qos", "1", "--will-retain");
        doomed.Signal("KILL");

        var will = Assert.Single(await MosquittoClients.MessagesAsync(watcher, 1));
        Assert.Equal(("last words", true), (will.Payload, will.Retain));
    }

    // 5.0 §3.1.3.2.2 Will Delay Interval: the will is published only once the delay has passed.
    [Fact]
    public async Task Will_DelayIntervalMqtt5_PublishedAfterTheDelay()
    {
        await using var broker = await BrokerProcess.StartAsync();
        const string willTopic = "will/delayed";
        await using var watcher = await MosquittoClients.SubscribeAsync(broker, "-V", "mqttv5", "-q", "1", "-t", willTopic);
        await using var doomed = await MosquittoClients.SubscribeAsync(
            broker, "-V", "mqttv5", "-i", "doomed-delay", "-t", "will/unused", "-x", "60",
            "--will-topic", willTopic, "--will-payload", "late", "--will-qos", "1", "-D", "will", "will-delay-interval", "2");

        var killedAt = Stopwatch.GetTimestamp();
        doomed.Signal("KILL");
        await MosquittoClients.MessagesAsync(watcher, 1, TimeSpan.FromSeconds(15));
        var elapsed = Stopwatch.GetElapsedTime(killedAt);

        Assert.True(elapsed >= TimeSpan.FromSeconds(1.5), $"will arrived after {elapsed.TotalSeconds:0.00} s, before its 2 s delay");
    }

    // DISCONNECT reason 0x04 "Disconnect with Will Message" (MQTT 5 §3.14.2.1): the will is published.
    [Fact]
    public async Task Disconnect_ReasonDisconnectWithWill_WillPublished()
    {
        await using var broker = await BrokerProcess.StartAsync();
        const string willTopic = "will/reason4";
        await using var watcher = await MosquittoClients.SubscribeAsync(broker, "-V", "mqttv5", "-q", "1", "-t", willTopic);
        await using var client = await RawMqttClient.ConnectMqttAsync(
            broker, ConnectPacket("will-0x04", V5, will: new Will(willTopic, "asked for it", 1)));

        await client.SendAsync(DisconnectPacket(V5, 0x04));

        var will = Assert.Single(await MosquittoClients.MessagesAsync(watcher, 1));
        Assert.Equal("asked for it", will.Payload);
    }

    // [MQTT-3.1.2-10] (3.1.1) / [MQTT-3.14.4-3] (5.0): a normal DISCONNECT discards the will.
    [Theory]
    [InlineData(V311)]
    [InlineData(V5)]
    public async Task Disconnect_Normal_WillDiscarded(byte version)
    {
        await using var broker = await BrokerProcess.StartAsync();
        var willTopic = $"will/normal/{version}";
        await using var watcher = await MosquittoClients.SubscribeAsync(broker, "-q", "1", "-t", willTopic);
        await using var client = await RawMqttClient.ConnectMqttAsync(
            broker, ConnectPacket($"will-normal-{version}", version, will: new Will(willTopic, "must not appear", 1)));

        await client.SendAsync(DisconnectPacket(version));
        await client.WaitForCloseAsync();
        // A marker published after the connection is gone: the first thing the watcher sees must be it.
        await MosquittoClients.PublishAsync(broker, ["-q", "1", "-t", willTopic, "-m", "marker"]);

        var first = (await MosquittoClients.MessagesAsync(watcher, 1))[0];
        Assert.Equal("marker", first.Payload);
    }
}
