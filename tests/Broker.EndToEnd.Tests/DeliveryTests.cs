using System.Globalization;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>QoS 0/1/2 delivery between real mosquitto clients through the real broker.</summary>
public sealed class DeliveryTests
{
    private const int Count = 200;

    // [MQTT-4.3.1] QoS 0 at most once, [MQTT-4.3.2] QoS 1 at least once, [MQTT-4.3.3] QoS 2 exactly once
    // (on loopback nothing is lost, so every message arrives once); [MQTT-4.6.0-5]/[MQTT-4.6.0-6] the
    // messages of each publisher arrive in the order it sent them. Two publishers run at the same time.
    [Theory]
    [InlineData("mqttv311", 0)]
    [InlineData("mqttv311", 1)]
    [InlineData("mqttv311", 2)]
    [InlineData("mqttv5", 0)]
    [InlineData("mqttv5", 1)]
    [InlineData("mqttv5", 2)]
    public async Task Publish_200MessagesAtQos_ArriveExactlyOnceInOrderPerPublisher(string version, int qos)
    {
        await using var broker = await BrokerProcess.StartAsync();
        await TwoPublishersOneSubscriberAsync(broker, version, qos);
    }

    // The same through the other ways the plain TCP listener can run its connections: on .NET's socket engine and
    // the thread pool (0), and on several epoll threads, with the subscriber and the publishers on different ones.
    [Theory]
    [InlineData(0)]
    [InlineData(3)]
    public async Task Publish_WithIoThreads_ArriveExactlyOnceInOrderPerPublisher(int ioThreads)
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["listener.tcp.external.io_threads"] = ioThreads.ToString(CultureInfo.InvariantCulture));
        await TwoPublishersOneSubscriberAsync(broker, "mqttv5", 1);
    }

    private static async Task TwoPublishersOneSubscriberAsync(BrokerProcess broker, string version, int qos)
    {
        const int publishers = 2;
        var topic = $"delivery/{version}/{qos}";
        var q = qos.ToString(CultureInfo.InvariantCulture);
        await using var sub = await MosquittoClients.SubscribeAsync(
            broker, "-V", version, "-q", q, "-t", topic, "-C", (publishers * Count).ToString(CultureInfo.InvariantCulture));

        await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => MosquittoClients.PublishAsync(
            broker, ["-V", version, "-q", q, "-t", topic, "-i", $"pub{p}"], Enumerable.Range(0, Count).Select(i => $"p{p}-{i}"))));

        var messages = await MosquittoClients.MessagesAsync(sub, publishers * Count);
        for (var p = 0; p < publishers; p++)
        {
            var prefix = $"p{p}-";
            Assert.Equal(
                Enumerable.Range(0, Count).Select(i => prefix + i),
                messages.Select(m => m.Payload).Where(m => m.StartsWith(prefix, StringComparison.Ordinal)));
        }

        Assert.All(messages, m => Assert.Equal((topic, qos), (m.Topic, m.Qos)));
        Assert.Equal(0, await sub.WaitForExitAsync(MosquittoClients.Timeout));
    }

    // [MQTT-3.1.2-4] / [MQTT-3.1.2-5]: a persistent session keeps its subscriptions and stores QoS 1/2
    // messages published while the client is away; they are delivered when it reconnects.
    [Theory]
    [InlineData("mqttv311", 1)]
    [InlineData("mqttv311", 2)]
    [InlineData("mqttv5", 1)]
    [InlineData("mqttv5", 2)]
    public async Task PersistentSession_MessagesPublishedWhileDisconnected_AllDeliveredOnReconnect(string version, int qos)
    {
        const int n = 50;
        await using var broker = await BrokerProcess.StartAsync();
        var topic = $"persistent/{version}/{qos}";
        var clientId = $"persist-{version}-{qos}";
        var q = qos.ToString(CultureInfo.InvariantCulture);
        string[] session = version == "mqttv5" ? ["-x", "3600"] : [];

        // Subscribe with a persistent session, then disconnect normally (-E: exit once subscribed).
        await using (var first = MosquittoClients.StartSub(broker, ["-V", version, "-q", q, "-c", "-i", clientId, "-t", topic, "-E", .. session]))
        {
            Assert.Equal(0, await first.WaitForExitAsync(MosquittoClients.Timeout));
        }

        await MosquittoClients.PublishAsync(broker, ["-V", version, "-q", q, "-t", topic], Enumerable.Range(0, n).Select(i => $"p{i}"));

        await using var second = MosquittoClients.StartSub(
            broker, ["-V", version, "-q", q, "-c", "-i", clientId, "-t", topic, "-C", n.ToString(CultureInfo.InvariantCulture), .. session]);
        var messages = await MosquittoClients.MessagesAsync(second, n);
        Assert.Equal(Enumerable.Range(0, n).Select(i => $"p{i}"), messages.Select(m => m.Payload));
    }

    [Fact]
    public async Task FanIn_50Qos1PublishersAtFullSpeed_SmallQueue_PublishersSlowedNothingLost()
    {
        // 50 MQTT.js publishers outrun one subscriber whose queue holds only 200 (the default is 1000): with
        // session.backpressure_timeout the broker reads publishers no faster than the subscriber drains, so every
        // acknowledged message arrives. Each publisher adds at most one message past the half-full mark before it
        // waits, so a queue of at least twice the publishers never overflows.
        await using var broker = await BrokerProcess.StartAsync(o => o["session.max_mqueue_len"] = "200");
        await using var load = Interop.StartNode("reload_publishers.js", broker,
            new { publishers = 50, perPublisher = 200, greeting = "original", timeoutSeconds = 120 });

        var result = await Interop.ResultAsync(load, TimeSpan.FromSeconds(120));

        Assert.Equal(50 * 200, result.GetProperty("acknowledged").GetInt32());
        Assert.Equal(50 * 200, result.GetProperty("received").GetInt32());
        Assert.Equal(0, result.GetProperty("duplicates").GetInt32());
        Assert.Equal(0, result.GetProperty("disconnects").GetInt32());
    }
}
