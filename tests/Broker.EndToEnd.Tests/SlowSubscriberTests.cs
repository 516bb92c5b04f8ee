using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// Issue 17 item 1: one subscriber that stops reading must not slow anyone else. It becomes a slow subscriber
/// (session.slow_subscriber_timeout), publishers stop waiting for it, and a healthy pair beside it keeps its rate.
/// </summary>
[Collection(HealthyPairCollection.Name)]
public sealed class SlowSubscriberTests
{
    [Theory]
    [InlineData("drop")]
    [InlineData("disconnect")]
    public async Task StoppedWildcardSubscriber_HealthyPairBesideIt_KeepsItsRateAndLatency(string policy)
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o["session.slow_subscriber_timeout"] = "1s";
            o["session.slow_subscriber_policy"] = policy;
        });
        using var stopped = await StoppedSubscriber.ConnectAsync(broker, "stopped", "+/#");

        // 16 KB QoS 1 messages until the stopped subscriber's socket and queue are full and it is found slow.
        await using var flood = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("flood", V311));
        var payload = new string('x', 16 * 1024);
        var slow = broker.WaitForLogAsync(l => l.Contains("Client stopped is a slow subscriber", StringComparison.Ordinal), "the slow subscriber", TimeSpan.FromSeconds(60));
        for (ushort id = 1; !slow.IsCompleted && id < 5000; id++)
            await flood.SendAsync(PublishPacket("flood/x", payload, 1, id));
        await slow;

        // The healthy pair: 1 publisher -> 1 subscriber, QoS 1, 200 msg/s for 5 s; its topics match "+/#" as well.
        HealthyPair.AssertUnaffected(await HealthyPair.RunAsync(broker, "5s"));

        if (policy == "drop")
        {
            // Still connected, found slow, and what its queue could not hold was dropped and counted (ctl clients show).
            var show = await CtlRunner.RunAsync(broker, "--json", "clients", "show", "stopped");
            var client = System.Text.Json.JsonDocument.Parse(show.Stdout).RootElement.GetProperty("data")[0];
            Assert.True(client.GetProperty("connected").GetBoolean());
            Assert.True(client.GetProperty("slow_subscriber").GetBoolean());
            Assert.True(client.GetProperty("mqueue_dropped").GetInt64() > 0, show.Stdout);
        }
        else
        {
            await broker.WaitForLogAsync(l => l.Contains("Client stopped disconnected: slow_subscriber", StringComparison.Ordinal), "the disconnect");
        }
    }
}
