using System.Net;
using System.Text;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;
using Broker.Server.Tests.Management;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>
/// The management API's publish, subscribe, routes, Prometheus and ACL reload endpoints against the real broker, with
/// mosquitto_pub/sub, Paho and a raw client on the other side.
/// </summary>
public sealed class ManagementMqttApiTests
{
    private static Task<(HttpStatusCode Status, JsonElement Body)> SendAsync(HttpClient http, HttpMethod method, string path, string? json = null) =>
        ManagementHttp.SendAsync(http, method, path, json);

    private static async Task<JsonElement> PostOkAsync(HttpClient http, string path, string json)
    {
        var (status, body) = await SendAsync(http, HttpMethod.Post, path, json);
        Assert.True(status == HttpStatusCode.OK && body.GetProperty("code").GetInt32() == 0, $"POST {path} {json}: {(int)status} {body}");
        return body;
    }

    private static async Task<List<string>> RoutesAsync(HttpClient http, string path = "api/v4/routes")
    {
        var (status, body) = await SendAsync(http, HttpMethod.Get, path);
        Assert.Equal(HttpStatusCode.OK, status);
        return [.. body.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("topic").GetString() + "@" + r.GetProperty("node").GetString())];
    }

    [Fact]
    public async Task Publish_PlainQos1_ReachesMosquittoSub()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "api-plain", "-t", "api/#", "-q", "1");
        using var http = broker.CreateManagementClient();

        var answer = await PostOkAsync(http, "api/v4/mqtt/publish", """{"topic":"api/plain","payload":"hello from the API","qos":1,"clientid":"ops"}""");

        Assert.Equal(1, answer.GetProperty("data")[0].GetProperty("delivered").GetInt32());
        var message = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
        Assert.Equal(new ReceivedMessage("api/plain", 1, false, "hello from the API"), message);
    }

    // [MQTT-3.3.1-12]: with Retain As Published the subscriber sees the RETAIN flag as published.
    [Fact]
    public async Task Publish_Base64Retained_SubscriberWithRetainAsPublishedSeesFlagAndBytes()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("api-rap", V5));
        await client.SendAsync(SubscribePacket(1, "api/b64", qos: 1 | 0x08, V5));
        await client.ReceiveAsync(Suback);
        using var http = broker.CreateManagementClient();

        var bytes = new byte[] { 0x00, 0x01, 0xFE, 0xFF, (byte)'o', (byte)'k' };
        await PostOkAsync(http, "api/v4/mqtt/publish", $$"""{"topic":"api/b64","payload":"{{Convert.ToBase64String(bytes)}}","encoding":"base64","qos":1,"retain":true}""");

        var publish = await client.ReceiveAsync(Publish);
        Assert.Equal(1, publish.Flags & 0x01);
        Assert.Equal(1, (publish.Flags >> 1) & 0x03);
        Assert.EndsWith(Convert.ToHexString(bytes), Convert.ToHexString(publish.Body), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Publish_Mqtt5Properties_ReachPaho()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var subscriber = Interop.StartPaho("receive_properties.py", broker, new { topic = "api/props" });
        await Interop.WaitForEventAsync(subscriber, "subscribed");
        using var http = broker.CreateManagementClient();

        await PostOkAsync(http, "api/v4/mqtt/publish", """
            {"topic":"api/props","payload":"{\"t\":21}","qos":1,
             "properties":{"user_properties":{"site":"north","ü-key":"ü-value"},"content_type":"application/json",
                           "response_topic":"api/reply","correlation_data":"abc","payload_format_indicator":1,
                           "message_expiry_interval":60}}
            """);

        var message = await Interop.ResultAsync(subscriber);
        Assert.Equal("{\"t\":21}", message.GetProperty("payload").GetString());
        Assert.Equal("application/json", message.GetProperty("contentType").GetString());
        Assert.Equal("api/reply", message.GetProperty("responseTopic").GetString());
        Assert.Equal("616263", message.GetProperty("correlationData").GetString());
        Assert.Equal(1, message.GetProperty("payloadFormatIndicator").GetInt32());
        var user = message.GetProperty("userProperties").EnumerateArray().Select(p => p[0].GetString() + "=" + p[1].GetString()).Order(StringComparer.Ordinal);
        Assert.Equal(["site=north", "ü-key=ü-value"], user);
    }

    // The API publishes through message.publish like a client's PUBLISH, so plugins (rewrite, retainer) act on it.
    [Fact]
    public async Task Publish_RunsMessagePublishHooks_PluginRewritesThePayload()
    {
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            o.HomeContent["plugins/hello"] = TestPlugins.OutputOf("TestPlugins.Hello");
            o.PluginConf["hello"] = "greeting = rewritten by a hook\n";
            o.LoadedPlugins.Add("hello");
        });
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "api-hook", "-t", "hello/#", "-q", "1");
        using var http = broker.CreateManagementClient();

        await PostOkAsync(http, "api/v4/mqtt/publish", """{"topic":"hello/api","payload":"original","qos":1}""");

        Assert.Equal("rewritten by a hook", Assert.Single(await MosquittoClients.MessagesAsync(sub, 1)).Payload);
    }

    [Fact]
    public async Task PublishBatch_EveryGoodItemArrives_BadOneAnswersItsCode()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "api-batch", "-t", "batch/#", "-q", "2");
        using var http = broker.CreateManagementClient();

        var answer = await PostOkAsync(http, "api/v4/mqtt/publish_batch", """
            [{"topic":"batch/1","payload":"one","qos":2},
             {"topic":"batch/+","payload":"wildcard"},
             {"topics":"batch/2,batch/3","payload":"two and three","qos":1}]
            """);

        var results = answer.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("code").GetInt32()).ToArray();
        Assert.Equal([0, 115, 0], results);
        var messages = await MosquittoClients.MessagesAsync(sub, 3);
        Assert.Equal(
            ["batch/1 2 one", "batch/2 1 two and three", "batch/3 1 two and three"],
            messages.Select(m => $"{m.Topic} {m.Qos} {m.Payload}").Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task SubscribeViaApi_MosquittoPubReachesTheClient_UnsubscribeStopsIt_RoutesFollow()
    {
        await using var broker = await BrokerProcess.StartAsync();
        // Subscribed to a marker topic only; the API adds the real subscription.
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "api-target", "-t", "marker", "-q", "1");
        using var http = broker.CreateManagementClient();
        Assert.Equal(["marker@" + broker.NodeName], await RoutesAsync(http));

        await PostOkAsync(http, "api/v4/mqtt/subscribe", """{"clientid":"api-target","topic":"sensors/+/temp","qos":1}""");

        Assert.Equal(["marker@" + broker.NodeName, "sensors/+/temp@" + broker.NodeName], await RoutesAsync(http));
        Assert.Equal(["sensors/+/temp@" + broker.NodeName], await RoutesAsync(http, "api/v4/routes/sensors%2F%2B%2Ftemp"));
        var (_, subs) = await SendAsync(http, HttpMethod.Get, "api/v4/subscriptions/api-target?_match_topic=sensors/kitchen/temp");
        Assert.Equal("sensors/+/temp 1", $"{subs.GetProperty("data")[0].GetProperty("topic").GetString()} {subs.GetProperty("data")[0].GetProperty("qos").GetInt32()}");
        Assert.Equal(1, subs.GetProperty("meta").GetProperty("count").GetInt32());

        await MosquittoClients.PublishAsync(broker, ["-t", "sensors/kitchen/temp", "-m", "21.5", "-q", "1"]);
        Assert.Equal(new ReceivedMessage("sensors/kitchen/temp", 1, false, "21.5"), Assert.Single(await MosquittoClients.MessagesAsync(sub, 1)));

        await PostOkAsync(http, "api/v4/mqtt/unsubscribe", """{"clientid":"api-target","topic":"sensors/+/temp"}""");
        Assert.Equal(["marker@" + broker.NodeName], await RoutesAsync(http));

        // Not delivered any more: the marker, published after it by the same kind of client, arrives alone.
        await MosquittoClients.PublishAsync(broker, ["-t", "sensors/kitchen/temp", "-m", "22.0", "-q", "1"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "marker", "-m", "end", "-q", "1"]);
        var messages = await MosquittoClients.MessagesAsync(sub, 2);
        Assert.Equal(["sensors/kitchen/temp 21.5", "marker end"], messages.Select(m => $"{m.Topic} {m.Payload}"));

        var (status, again) = await SendAsync(http, HttpMethod.Post, "api/v4/mqtt/unsubscribe", """{"clientid":"api-target","topic":"sensors/+/temp"}""");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Contains("no subscription", again.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubscribeViaApi_OfflinePersistentSession_GetsQueuedMessagesOnReconnect()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using (var first = await MosquittoClients.SubscribeAsync(broker, "-i", "api-offline", "-c", "-t", "marker", "-q", "1"))
        {
        }
        // Killed without DISCONNECT: the session (clean session off) stays, offline.
        await broker.WaitForLogAsync(l => l.Contains("Client api-offline disconnected", StringComparison.Ordinal), "api-offline disconnected");
        using var http = broker.CreateManagementClient();
        var (_, client) = await SendAsync(http, HttpMethod.Get, "api/v4/clients/api-offline");
        Assert.False(client.GetProperty("data")[0].GetProperty("connected").GetBoolean());

        await PostOkAsync(http, "api/v4/mqtt/subscribe", """{"clientid":"api-offline","topics":"queued/a,queued/b","qos":1}""");
        await MosquittoClients.PublishAsync(broker, ["-t", "queued/a", "-m", "while away", "-q", "1"]);

        await using var back = await MosquittoClients.SubscribeAsync(broker, "-i", "api-offline", "-c", "-t", "marker", "-q", "1");
        Assert.Equal("queued/a while away", (await MosquittoClients.MessagesAsync(back, 1)).Select(m => $"{m.Topic} {m.Payload}").Single());
    }

    [Fact]
    public async Task Prometheus_ParsesAndCountsTraffic()
    {
        await using var broker = await BrokerProcess.StartAsync();
        using var http = broker.CreateManagementClient();

        var before = await ScrapeAsync(http);
        await MosquittoClients.PublishAsync(broker, ["-t", "prom/t", "-q", "1", "-m", "x"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "prom/t", "-q", "1"], ["a", "b"]);
        var after = await ScrapeAsync(http);

        Assert.True(after["broker_messages_received_total"] >= before["broker_messages_received_total"] + 3, $"{before["broker_messages_received_total"]} -> {after["broker_messages_received_total"]}");
        Assert.True(after["broker_bytes_received_total"] > before["broker_bytes_received_total"]);
        Assert.Equal(0, before["broker_connections_max"]);
        Assert.True(after["broker_connections_max"] >= 1);
    }

    private static async Task<Dictionary<string, double>> ScrapeAsync(HttpClient http)
    {
        using var response = await http.GetAsync("api/v4/prometheus", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("text/plain; version=0.0.4", response.Content.Headers.ContentType?.ToString(), StringComparison.Ordinal);
        return PrometheusExposition.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task AclReload_ChangesTheDecisionForANewConnection_BadFileKeepsOldRules()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o.AclConf = """
            {deny, all, subscribe, ["secret/#"]}.
            {allow, all}.
            """);
        using var http = broker.CreateManagementClient();
        Assert.Equal([0x80], await SubscribeCodesAsync(broker, "acl-1"));

        await File.WriteAllTextAsync(Path.Combine(broker.HomeDirectory, "etc", "acl.conf"), "{allow, all}.\n", TestContext.Current.CancellationToken);
        var (status, body) = await SendAsync(http, HttpMethod.Put, "api/v4/acl/reload");
        Assert.True(status == HttpStatusCode.OK, body.ToString());
        Assert.Equal(1, body.GetProperty("data").GetProperty("rules").GetInt32());
        Assert.Equal([1], await SubscribeCodesAsync(broker, "acl-2"));

        await File.WriteAllTextAsync(Path.Combine(broker.HomeDirectory, "etc", "acl.conf"), "{deny, all, subscribe, [\"secret/#\"]}.\n{allow, nobody}.\n", TestContext.Current.CancellationToken);
        var (badStatus, bad) = await SendAsync(http, HttpMethod.Post, "api/v4/acl/reload");
        Assert.Equal(HttpStatusCode.BadRequest, badStatus);
        Assert.Contains("acl.conf:2:", bad.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal([1], await SubscribeCodesAsync(broker, "acl-3"));
    }

    private static async Task<byte[]> SubscribeCodesAsync(BrokerProcess broker, string clientId)
    {
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket(clientId));
        await client.SendAsync(SubscribePacket(1, "secret/plans", 1));
        return SubackCodes(await client.ReceiveAsync(Suback), V311);
    }

    [Theory]
    [InlineData("POST", "api/v4/mqtt/publish")]
    [InlineData("POST", "api/v4/mqtt/subscribe")]
    [InlineData("GET", "api/v4/routes")]
    [InlineData("GET", "api/v4/prometheus")]
    [InlineData("PUT", "api/v4/acl/reload")]
    public async Task NewEndpoints_WrongPassword_Are401(string method, string path)
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "api-401", "-t", "t");
        using var http = new HttpClient { BaseAddress = broker.ManagementUrl };
        http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("admin:" + broker.ManagementSecret + "x")));

        var (status, body) = await SendAsync(http, new HttpMethod(method), path, method == "GET" ? null : """{"topic":"t","clientid":"api-401","payload":"no"}""");

        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal(103, body.GetProperty("code").GetInt32());
        // Nothing was published or subscribed: a marker published afterwards is the first message.
        await MosquittoClients.PublishAsync(broker, ["-t", "t", "-m", "marker", "-q", "1"]);
        Assert.Equal("marker", (await MosquittoClients.MessagesAsync(sub, 1))[0].Payload);
    }
}
