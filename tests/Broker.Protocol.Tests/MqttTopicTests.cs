using Broker.Protocol;
using Xunit;

namespace Broker.Protocol.Tests;

public sealed class MqttTopicTests
{
    // 4.8.2: $share/{ShareName}/{filter}; the share name is at least one character without / + # [MQTT-4.8.2-1],
    // [MQTT-4.8.2-2]; $queue/{filter} is EMQX's group-less form.
    [Theory]
    [InlineData("a/b", 0)]
    [InlineData("$share/g/a/b", 9)]
    [InlineData("$share/g/#", 9)]
    [InlineData("$queue/a", 7)]
    [InlineData("$share//a", 0)]
    [InlineData("$share/g", 0)]
    [InlineData("$share/g/", 0)]
    [InlineData("$share/+/a", 0)]
    [InlineData("$queue/", 0)]
    [InlineData("$SYS/x", 0)]
    public void SharePrefixLength_AgreesWithTryParseShared(string filter, int expected)
    {
        Assert.Equal(expected, MqttTopic.SharePrefixLength(filter));
        var shared = MqttTopic.TryParseShared(filter, out var group, out var rest);
        Assert.Equal(expected > 0, shared && group is not null);
        if (expected > 0)
            Assert.Equal(filter[expected..], rest);
    }
}
