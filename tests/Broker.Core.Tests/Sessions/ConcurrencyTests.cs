using Broker.Abstractions;
using Broker.Core.Tests.TestTransport;
using Broker.Protocol;
using Xunit;

namespace Broker.Core.Tests.Sessions;

/// <summary>Deliveries from many publisher threads into one session while its client acknowledges.</summary>
public sealed class ConcurrencyTests
{
    [Fact]
    public async Task Deliver_ConcurrentPublishersSmallWindow_EveryMessageExactlyOnceWithinWindow()
    {
        const int publishers = 4, perPublisher = 150, window = 5;
        await using var broker = new TestBroker((_, session, _, _) => session.MaxInflight = window);
        var sub = await broker.ConnectAsync("sub", configure: c => c.KeepAlive = 0);
        await sub.SubscribeAsync("load/+", MqttQos.AtLeastOnce);
        var pubs = new PipeMqttClient[publishers];
        for (var p = 0; p < publishers; p++)
            pubs[p] = await broker.ConnectAsync("pub" + p, configure: c => c.KeepAlive = 0);

        var sending = pubs.Select((pub, p) => Task.Run(async () =>
        {
            for (var i = 0; i < perPublisher; i++)
                await pub.PublishAsync("load/" + p, $"{p}:{i}", MqttQos.AtLeastOnce);
        })).ToArray();

        // [MQTT-4.6.0-6]-style ordering per publisher, the window never exceeded, nothing lost or duplicated.
        var seen = new HashSet<string>();
        var lastPerPublisher = new int[publishers];
        Array.Fill(lastPerPublisher, -1);
        for (var n = 0; n < publishers * perPublisher; n++)
        {
            var publish = await sub.ReceivePublishAsync();
            Assert.False(publish.Dup);
            Assert.True(sub.Channel.Session!.InflightCount <= window);
            var payload = System.Text.Encoding.UTF8.GetString(publish.Payload.Span);
            Assert.True(seen.Add(payload), "duplicate " + payload);
            var parts = payload.Split(':');
            var p = int.Parse(parts[0], System.Globalization.CultureInfo.InvariantCulture);
            var i = int.Parse(parts[1], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(lastPerPublisher[p] + 1, i);
            lastPerPublisher[p] = i;
            await sub.AckAsync(MqttPacketType.PubAck, publish.PacketId);
        }
        await Task.WhenAll(sending);
        await sub.AssertNothingReceivedAsync();
        Assert.Equal(0, sub.Channel.Session!.InflightCount);
        Assert.Equal(0, sub.Channel.Session.QueueLength);
    }
}
