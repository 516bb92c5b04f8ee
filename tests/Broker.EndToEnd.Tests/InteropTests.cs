using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>MQTT 5 features through MQTT.js and Eclipse Paho.</summary>
public sealed class InteropTests
{
    // 5.0 §3.3.2.3.4 Topic Alias: the receiver maps an alias to the topic it was last set for; the broker announces
    // a Topic Alias Maximum and accepts aliases, and a subscriber that allows aliases gets correct topics.
    [Fact]
    public async Task TopicAlias_BothWaysWithMqttJs_MessagesArriveWithTheirTopics()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var script = Interop.StartNode("topic_alias.js", broker, new { rounds = 5 });

        var result = await Interop.ResultAsync(script);

        Assert.True(result.GetProperty("brokerTopicAliasMaximum").GetInt32() > 0, "CONNACK announced no Topic Alias Maximum");
        Assert.True(result.GetProperty("publishedWithAlias").GetInt32() > 0, "MQTT.js sent no aliased PUBLISH");
        Assert.Equal(
            result.GetProperty("expected").EnumerateArray().Select(e => e.GetRawText()),
            result.GetProperty("received").EnumerateArray().Select(e => e.GetRawText()));
    }

    // [MQTT-3.3.2-4], [MQTT-3.3.2-15..20]: payload format indicator, content type, response topic, correlation data and
    // user properties (in order, duplicates kept) reach the subscriber unchanged. MQTT.js publishes, Paho receives.
    [Fact]
    public async Task Publish_Mqtt5Properties_ForwardedUnchanged()
    {
        await using var broker = await BrokerProcess.StartAsync();
        const string topic = "props/t";
        await using var subscriber = Interop.StartPaho("receive_properties.py", broker, new { topic });
        await Interop.WaitForEventAsync(subscriber, "subscribed");

        await using var publisher = Interop.StartNode("publish_properties.js", broker, new { topic });
        await Interop.ResultAsync(publisher);
        var message = await Interop.ResultAsync(subscriber);

        Assert.Equal("with properties", message.GetProperty("payload").GetString());
        Assert.Equal(1, message.GetProperty("payloadFormatIndicator").GetInt32());
        Assert.Equal("application/json; charset=utf-8", message.GetProperty("contentType").GetString());
        Assert.Equal("reply/to/me", message.GetProperty("responseTopic").GetString());
        Assert.Equal("0001feff", message.GetProperty("correlationData").GetString());
        Assert.Equal(
            """[["a","1"],["dup","x"],["dup","y"],["ü-key","ü-value"]]""",
            JsonSerializer.Serialize(
                message.GetProperty("userProperties").EnumerateArray().Select(p => p.EnumerateArray().Select(s => s.GetString()).ToArray()),
                new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
    }
}
