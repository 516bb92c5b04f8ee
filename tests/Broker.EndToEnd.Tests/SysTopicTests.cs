using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>$SYS/brokers/&lt;node&gt;/... topics, published every broker.sys_interval.</summary>
public sealed class SysTopicTests
{
    [Fact]
    public async Task SysTopics_IntervalOneSecond_BrokerInfoStatsAndMetricsArriveRepeatedly()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["broker.sys_interval"] = "1s");
        var prefix = $"$SYS/brokers/{broker.NodeName}/";
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", prefix + "#");

        string[] expected =
        [
            "version", "uptime", "datetime", "sysdescr",
            "stats/connections/count", "stats/subscriptions/count", "metrics/messages/received",
        ];
        foreach (var topic in expected)
        {
            var line = await sub.WaitForLineAsync(
                l => ReceivedMessage.IsMessage(l) && ReceivedMessage.Parse(l).Topic == prefix + topic,
                TimeSpan.FromSeconds(10), prefix + topic);
            Assert.NotEmpty(ReceivedMessage.Parse(line).Payload);
        }

        // Published every interval, not once: a second uptime arrives.
        await sub.WaitForLinesAsync(
            l => ReceivedMessage.IsMessage(l) && ReceivedMessage.Parse(l).Topic == prefix + "uptime", 2, TimeSpan.FromSeconds(10), "a second uptime");
        var connections = MosquittoClients.MessagesSoFar(sub).Last(m => m.Topic == prefix + "stats/connections/count");
        Assert.True(long.Parse(connections.Payload, System.Globalization.CultureInfo.InvariantCulture) >= 1, $"connections/count = {connections.Payload}");
    }
}
