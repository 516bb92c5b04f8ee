using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Broker.Core;
using Broker.Core.Hosting;
using Broker.Server.Management;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace Broker.Server.Tests.Management;

/// <summary>
/// The management API in process over real HTTP on a free port, on an engine without clients: authentication,
/// the EMQX 4 shape of every endpoint, and 400/404 answers. Clients and kicks are covered end to end with real
/// MQTT clients (Broker.EndToEnd.Tests ManagementApiTests).
/// </summary>
public sealed class ManagementApiTests : IAsyncLifetime
{
    private const string Secret = "test-secret-123";
    private WebApplication? _app;
    private HttpClient _http = null!;
    private BrokerEngine _engine = null!;

    public async ValueTask InitializeAsync()
    {
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(k =>
            ManagementApi.Listen(k, new ManagementOptions { Bind = "127.0.0.1:0" }, _ => { }));
        ManagementApi.AddServices(builder.Services);
        _app = builder.Build();
        var settings = new CoreSettings();
        settings.Node.NodeName = "test@127.0.0.1";
        var core = new BrokerCore(settings, (TimeSpan.Zero, 1), TimeProvider.System, NullLoggerFactory.Instance, bannedPath: null);
        _engine = core.Engine;
        ManagementApi.Map(_app, core, new ManagementCredentials("admin", Secret, null));
        await _app.StartAsync(TestContext.Current.CancellationToken);
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient { BaseAddress = new Uri(address) };
        _http.DefaultRequestHeaders.Authorization = Basic("admin", Secret);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        if (_app is not null)
            await _app.DisposeAsync();
    }

    private static AuthenticationHeaderValue Basic(string user, string secret) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes(user + ":" + secret)));

    private async Task<(HttpStatusCode Status, JsonElement Body)> GetAsync(string path, AuthenticationHeaderValue? auth = null, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
        if (auth is not null)
            request.Headers.Authorization = auth;
        using var response = await _http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Theory]
    [InlineData("/api/v4/brokers")]
    [InlineData("/api/v4/clients")]
    [InlineData("/api/v4/clients/x")]
    [InlineData("/api/v4/no-such-endpoint")]
    public async Task AnyEndpoint_WithoutCredentials_Is401WithChallenge(string path)
    {
        using var anonymous = new HttpClient { BaseAddress = _http.BaseAddress };
        using var response = await anonymous.GetAsync(path, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.StartsWith("Basic", response.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.Equal(103, body.GetProperty("code").GetInt32());
    }

    // IPluginHttp.MapRoot (SDK 2.1) through the real routing: served at /api/v4/<pattern> with the API's credentials,
    // an encoded '/' kept inside its segment, the API's own paths refused (read from the routes mapped), 404 once gone.
    [Fact]
    public async Task RootPluginEndpoints_ServedAuthenticated_NeverOverTheApi_GoneWithTheScope()
    {
        var scope = _engine.PluginEndpoints.For("auth_builtin");
        scope.MapRoot("GET", "auth_username/{username}/rules/{**topic}", (request, _) => ValueTask.FromResult(
            Broker.Abstractions.Plugins.PluginHttpResponse.Json($$$"""{"code":0,"data":{"u":"{{{request.RouteValues["username"]}}}","t":"{{{request.RouteValues["topic"]}}}"}}""")));
        Assert.Throws<ArgumentException>(() => scope.MapRoot("GET", "clients/{id}", (_, _) => default));
        Assert.Throws<ArgumentException>(() => scope.MapRoot("POST", "banned/{kind}/{who}", (_, _) => default));
        Assert.Throws<ArgumentException>(() => scope.MapRoot("GET", "stats", (_, _) => default));
        Assert.Throws<ArgumentException>(() => scope.MapRoot("GET", "routes/a/b", (_, _) => default));

        var (status, body) = await GetAsync("/api/v4/auth_username/al%2Fice/rules/a%2Fb/c");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal("al/ice", body.GetProperty("data").GetProperty("u").GetString());
        Assert.Equal("a/b/c", body.GetProperty("data").GetProperty("t").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, (await GetAsync("/api/v4/auth_username/alice/rules/a", Basic("admin", "wrong"))).Status);
        Assert.Equal(HttpStatusCode.NotFound, (await GetAsync("/api/v4/auth_username/alice/rules/a", method: HttpMethod.Delete)).Status);

        scope.Dispose();
        (status, body) = await GetAsync("/api/v4/auth_username/alice/rules/a");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(404, body.GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task Brokers_WrongSecret_Is401()
    {
        var (status, body) = await GetAsync("/api/v4/brokers", Basic("admin", Secret + "x"));
        Assert.Equal(HttpStatusCode.Unauthorized, status);
        Assert.Equal(103, body.GetProperty("code").GetInt32());
        Assert.False(string.IsNullOrEmpty(body.GetProperty("message").GetString()));
    }

    [Fact]
    public async Task Brokers_HasEmqxFields()
    {
        var (status, body) = await GetAsync("/api/v4/brokers");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, body.GetProperty("code").GetInt32());
        var broker = Assert.Single(body.GetProperty("data").EnumerateArray());
        Assert.Equal("test@127.0.0.1", broker.GetProperty("node").GetString());
        Assert.Equal("Running", broker.GetProperty("node_status").GetString());
        Assert.Matches(@"^\d+\.\d+\.\d+$", broker.GetProperty("version").GetString());
        Assert.Matches(@"^\d+ days, \d+ hours, \d+ minutes, \d+ seconds$", broker.GetProperty("uptime").GetString());
        Assert.Matches(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", broker.GetProperty("datetime").GetString());
        Assert.False(string.IsNullOrEmpty(broker.GetProperty("sysdescr").GetString()));
    }

    [Fact]
    public async Task Stats_AreNumbersPerNode()
    {
        var (_, body) = await GetAsync("/api/v4/stats");
        var node = Assert.Single(body.GetProperty("data").EnumerateArray());
        Assert.Equal("test@127.0.0.1", node.GetProperty("node").GetString());
        var stats = node.GetProperty("stats");
        foreach (var key in new[] { "connections.count", "connections.max", "sessions.count", "subscriptions.count", "topics.count", "retained.count" })
            Assert.Equal(0, stats.GetProperty(key).GetInt64());
    }

    [Fact]
    public async Task Stats_IncludeGaugesSetByPlugins()
    {
        _engine.Metrics.SetGauge("delayed.count", 3);
        var (_, body) = await GetAsync("/api/v4/stats");
        var stats = Assert.Single(body.GetProperty("data").EnumerateArray()).GetProperty("stats");
        Assert.Equal(3, stats.GetProperty("delayed.count").GetInt64());
    }

    [Fact]
    public async Task Metrics_FollowBrokerMetrics()
    {
        _engine.Metrics.BytesIn(1234);
        _engine.Metrics.MessageIn();
        var (_, body) = await GetAsync("/api/v4/metrics");
        var metrics = Assert.Single(body.GetProperty("data").EnumerateArray()).GetProperty("metrics");
        Assert.Equal(1234, metrics.GetProperty("bytes.received").GetInt64());
        Assert.Equal(1, metrics.GetProperty("messages.received").GetInt64());
        foreach (var key in new[] { "bytes.sent", "packets.received", "packets.sent", "messages.sent", "messages.dropped" })
            Assert.Equal(JsonValueKind.Number, metrics.GetProperty(key).ValueKind);
    }

    [Fact]
    public async Task Clients_Empty_IsAPageWithMeta()
    {
        var (status, body) = await GetAsync("/api/v4/clients?_page=1&_limit=5");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, body.GetProperty("data").GetArrayLength());
        var meta = body.GetProperty("meta");
        Assert.Equal(1, meta.GetProperty("page").GetInt32());
        Assert.Equal(5, meta.GetProperty("limit").GetInt32());
        Assert.Equal(0, meta.GetProperty("count").GetInt32());
        Assert.False(meta.GetProperty("hasnext").GetBoolean());
    }

    [Theory]
    [InlineData("/api/v4/clients?_page=0")]
    [InlineData("/api/v4/clients?_page=abc")]
    [InlineData("/api/v4/clients?_limit=0")]
    [InlineData("/api/v4/clients?_limit=10001")]
    [InlineData("/api/v4/clients?_limit=-1")]
    [InlineData("/api/v4/subscriptions?_page=x")]
    public async Task Paging_BadParameter_Is400WithMessage(string path)
    {
        var (status, body) = await GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(108, body.GetProperty("code").GetInt32());
        Assert.Contains("_", body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task ClientsShow_Unknown_Is404()
    {
        var (status, body) = await GetAsync("/api/v4/clients/nobody");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(112, body.GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task ClientsKick_Unknown_Is404()
    {
        var (status, body) = await GetAsync("/api/v4/clients/nobody", method: HttpMethod.Delete);
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(112, body.GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task UnknownEndpoint_Is404Json()
    {
        var (status, body) = await GetAsync("/api/v4/no-such-endpoint");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.NotEqual(0, body.GetProperty("code").GetInt32());
    }

    [Fact]
    public async Task Subscriptions_Empty_IsAPage()
    {
        var (status, body) = await GetAsync("/api/v4/subscriptions?clientid=nobody");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, body.GetProperty("data").GetArrayLength());
        Assert.Equal(0, body.GetProperty("meta").GetProperty("count").GetInt32());
    }

    [Fact]
    public async Task Status_NeedsNoCredentials()
    {
        using var anonymous = new HttpClient { BaseAddress = _http.BaseAddress };
        var text = await anonymous.GetStringAsync("/status", TestContext.Current.CancellationToken);
        Assert.Contains("broker is running", text, StringComparison.Ordinal);
    }

    private async Task<(HttpStatusCode Status, JsonElement Body)> PostAsync(string path, string json)
    {
        using var content = new StringContent(json, Encoding.UTF8, "application/json");
        using var response = await _http.PostAsync(path, content, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        return (response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    [Theory]
    [InlineData("{}", 107, "topic")]
    [InlineData("{\"topic\":\"\"}", 107, "topic")]
    [InlineData("{\"topic\":\"a/#\"}", 115, "wildcard")]
    [InlineData("{\"topics\":\"a,b/+\"}", 115, "b/+")]
    [InlineData("{\"topic\":\"a\",\"qos\":3}", 116, "qos")]
    [InlineData("{\"topic\":\"a\",\"qos\":-1}", 116, "qos")]
    [InlineData("{\"topic\":\"a\",\"qos\":\"1\"}", 109, "qos")]
    [InlineData("{\"topic\":\"a\",\"payload\":\"%%%\",\"encoding\":\"base64\"}", 108, "base64")]
    [InlineData("{\"topic\":\"a\",\"encoding\":\"hex\"}", 108, "encoding")]
    [InlineData("{\"topic\":\"a\",\"retain\":\"yes\"}", 109, "retain")]
    [InlineData("{\"topic\":\"a\",\"properties\":{\"message_expiry_interval\":-5}}", 108, "message_expiry_interval")]
    [InlineData("{\"topic\":\"a\",\"properties\":{\"colour\":\"red\"}}", 109, "colour")]
    [InlineData("{\"topic\":", 109, "JSON")]
    [InlineData("[1]", 109, "JSON")]
    public async Task Publish_BadRequest_Is400NamingTheField(string body, int code, string named)
    {
        var (status, answer) = await PostAsync("/api/v4/mqtt/publish", body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(code, answer.GetProperty("code").GetInt32());
        Assert.Contains(named, answer.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Banned_AddListDelete_EmqxShapeInUnixSeconds()
    {
        var until = DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeSeconds();
        var (status, answer) = await PostAsync("/api/v4/banned",
            $"{{\"who\":\"::ffff:192.0.2.9\",\"as\":\"peerhost\",\"reason\":\"scanner\",\"by\":\"ops\",\"until\":{until}}}");
        Assert.Equal(HttpStatusCode.OK, status);
        var ban = answer.GetProperty("data");
        Assert.Equal("192.0.2.9", ban.GetProperty("who").GetString());
        Assert.Equal("peerhost", ban.GetProperty("as").GetString());
        Assert.Equal(until, ban.GetProperty("until").GetInt64());
        Assert.NotNull(_engine.Banned.Find("x", null, IPAddress.Parse("192.0.2.9")));

        // Without at/until: from now, for EMQX's five minutes; by defaults to the API.
        (status, answer) = await PostAsync("/api/v4/banned", "{\"who\":\"c1\",\"as\":\"clientid\"}");
        Assert.Equal(HttpStatusCode.OK, status);
        ban = answer.GetProperty("data");
        Assert.Equal(300, ban.GetProperty("until").GetInt64() - ban.GetProperty("at").GetInt64());
        Assert.Equal("management api", ban.GetProperty("by").GetString());

        var (listed, list) = await GetAsync("/api/v4/banned?_page=1&_limit=1");
        Assert.Equal(HttpStatusCode.OK, listed);
        Assert.Equal(2, list.GetProperty("meta").GetProperty("count").GetInt32());
        Assert.Equal("c1", Assert.Single(list.GetProperty("data").EnumerateArray()).GetProperty("who").GetString());

        Assert.Equal(HttpStatusCode.OK, (await GetAsync("/api/v4/banned/clientid/c1", method: HttpMethod.Delete)).Status);
        var (again, missing) = await GetAsync("/api/v4/banned/clientid/c1", method: HttpMethod.Delete);
        Assert.Equal(HttpStatusCode.NotFound, again);
        Assert.Contains("c1", missing.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync("/api/v4/banned/peerhost/192.0.2.9", method: HttpMethod.Delete)).Status);
        Assert.Empty((await GetAsync("/api/v4/banned")).Body.GetProperty("data").EnumerateArray());
    }

    [Theory]
    [InlineData("{\"who\":\"x\",\"as\":\"hostname\"}", 108, "'as'")]
    [InlineData("{\"who\":\"x\"}", 108, "'as'")]
    [InlineData("{\"who\":\"\",\"as\":\"clientid\"}", 108, "'who'")]
    [InlineData("{\"as\":\"username\"}", 108, "'who'")]
    [InlineData("{\"who\":\"not-an-address\",\"as\":\"peerhost\"}", 108, "IP address")]
    [InlineData("{\"who\":\"x\",\"as\":\"clientid\",\"until\":1000}", 108, "'until'")]
    [InlineData("{\"who\":\"x\",\"as\":\"clientid\",\"until\":-1}", 108, "Unix")]
    [InlineData("{\"who\":\"x\",\"as\":\"clientid\",\"at\":253402300799}", 108, "Unix")]
    [InlineData("{\"who\":\"x\",\"as\":\"clientid\",\"until\":\"soon\"}", 109, "JSON")]
    public async Task Banned_BadRequest_Is400NamingTheField(string body, int code, string named)
    {
        var (status, answer) = await PostAsync("/api/v4/banned", body);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(code, answer.GetProperty("code").GetInt32());
        Assert.Contains(named, answer.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, _engine.Banned.Count);
    }

    [Fact]
    public async Task Publish_NoSubscribers_IsCodeZeroWithNothingDelivered()
    {
        var (status, answer) = await PostAsync("/api/v4/mqtt/publish", "{\"topics\":\"a/1,a/2\",\"payload\":\"aGk=\",\"encoding\":\"base64\",\"qos\":1}");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, answer.GetProperty("code").GetInt32());
        Assert.Equal(
            ["a/1 0", "a/2 0"],
            answer.GetProperty("data").EnumerateArray().Select(r => $"{r.GetProperty("topic").GetString()} {r.GetProperty("delivered").GetInt32()}"));
    }

    [Fact]
    public async Task PublishBatch_AnswersPerItem_BadItemsDoNotStopGoodOnes()
    {
        var (status, answer) = await PostAsync("/api/v4/mqtt/publish_batch", "[{\"topic\":\"ok\"},{\"topic\":\"bad/#\"},{\"qos\":1}]");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, answer.GetProperty("code").GetInt32());
        var codes = answer.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("code").GetInt32()).ToArray();
        Assert.Equal([0, 115, 107], codes);
        Assert.Contains("wildcard", answer.GetProperty("data")[1].GetProperty("message").GetString(), StringComparison.Ordinal);

        var (empty, emptyAnswer) = await PostAsync("/api/v4/mqtt/publish_batch", "[]");
        Assert.Equal(HttpStatusCode.BadRequest, empty);
        Assert.Equal(107, emptyAnswer.GetProperty("code").GetInt32());
    }

    [Theory]
    [InlineData("/api/v4/mqtt/subscribe", "{\"topic\":\"a\",\"clientid\":\"nobody\"}", HttpStatusCode.NotFound, 112, "nobody")]
    [InlineData("/api/v4/mqtt/unsubscribe", "{\"topic\":\"a\",\"clientid\":\"nobody\"}", HttpStatusCode.NotFound, 112, "nobody")]
    [InlineData("/api/v4/mqtt/subscribe", "{\"topic\":\"a\"}", HttpStatusCode.BadRequest, 107, "clientid")]
    [InlineData("/api/v4/mqtt/subscribe", "{\"clientid\":\"c\"}", HttpStatusCode.BadRequest, 107, "topic")]
    [InlineData("/api/v4/mqtt/subscribe", "{\"topic\":\"a/#/b\",\"clientid\":\"c\"}", HttpStatusCode.BadRequest, 115, "a/#/b")]
    [InlineData("/api/v4/mqtt/subscribe", "{\"topic\":\"$share//a\",\"clientid\":\"c\"}", HttpStatusCode.BadRequest, 115, "$share//a")]
    [InlineData("/api/v4/mqtt/unsubscribe", "{\"topic\":\"a+\",\"clientid\":\"c\"}", HttpStatusCode.BadRequest, 115, "a+")]
    [InlineData("/api/v4/mqtt/subscribe", "not json", HttpStatusCode.BadRequest, 109, "JSON")]
    public async Task SubscribeUnsubscribe_BadOrUnknown_NamesIt(string path, string body, HttpStatusCode expected, int code, string named)
    {
        var (status, answer) = await PostAsync(path, body);
        Assert.Equal(expected, status);
        Assert.Equal(code, answer.GetProperty("code").GetInt32());
        Assert.Contains(named, answer.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task SubscribeBatch_UnknownClients_AnswerPerItem()
    {
        var (status, answer) = await PostAsync("/api/v4/mqtt/subscribe_batch", "[{\"topic\":\"a\",\"clientid\":\"x\"},{\"topic\":\"#/a\",\"clientid\":\"y\"}]");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal([112, 115], answer.GetProperty("data").EnumerateArray().Select(r => r.GetProperty("code").GetInt32()));
        Assert.Equal("x", answer.GetProperty("data")[0].GetProperty("clientid").GetString());
    }

    [Fact]
    public async Task Routes_Empty_IsAPage_AndUnknownRouteIsEmpty()
    {
        var (status, body) = await GetAsync("/api/v4/routes?_limit=5");
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Equal(0, body.GetProperty("data").GetArrayLength());
        Assert.Equal(5, body.GetProperty("meta").GetProperty("limit").GetInt32());
        var (one, oneBody) = await GetAsync("/api/v4/routes/a%2Fb");
        Assert.Equal(HttpStatusCode.OK, one);
        Assert.Equal(0, oneBody.GetProperty("data").GetArrayLength());
        var (bad, _) = await GetAsync("/api/v4/routes?_page=0");
        Assert.Equal(HttpStatusCode.BadRequest, bad);
    }

    [Theory]
    [InlineData("/api/v4/subscriptions?qos=3", 116, "qos")]
    [InlineData("/api/v4/subscriptions?qos=x", 116, "qos")]
    [InlineData("/api/v4/subscriptions?_match_topic=a/%23", 115, "_match_topic")]
    public async Task Subscriptions_BadFilter_Is400NamingIt(string path, int code, string named)
    {
        var (status, body) = await GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal(code, body.GetProperty("code").GetInt32());
        Assert.Contains(named, body.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prometheus_EveryLineFollowsTheExpositionFormat_AndShowsEveryMetric()
    {
        _engine.Metrics.MessageIn();
        _engine.Metrics.MessageIn();
        _engine.Metrics.SetGauge("presence.online-now", 7);
        _engine.Metrics.SetGauge("presence.online_now", 8); // same Prometheus name: exported once
        using var response = await _http.GetAsync("/api/v4/prometheus", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);

        var samples = PrometheusExposition.Parse(text);
        Assert.Equal(2, samples["broker_messages_received_total"]);
        Assert.Equal(7, samples["broker_presence_online_now"]);
        foreach (var name in new[]
        {
            "broker_connections_count", "broker_connections_max", "broker_sessions_count", "broker_subscriptions_count",
            "broker_topics_count", "broker_retained_count", "broker_bytes_received_total", "broker_bytes_sent_total",
            "broker_packets_received_total", "broker_packets_sent_total", "broker_messages_sent_total",
            "broker_messages_dropped_total", "broker_delivery_dropped_queue_full_total", "broker_messages_publisher_paused_total",
            "broker_client_connect_refused_banned_total",
        })
        {
            Assert.True(samples.ContainsKey(name), name + " missing:\n" + text);
        }
        Assert.Contains("# TYPE broker_messages_received_total counter\n", text, StringComparison.Ordinal);
        Assert.Contains("# TYPE broker_connections_count gauge\n", text, StringComparison.Ordinal);

        using var root = await _http.GetAsync("/metrics", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, root.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", root.Content.Headers.ContentType?.ToString());
        Assert.Equal(2, PrometheusExposition.Parse(await root.Content.ReadAsStringAsync(TestContext.Current.CancellationToken))["broker_messages_received_total"]);

        using var anonymous = new HttpClient { BaseAddress = _http.BaseAddress };
        foreach (var path in new[] { "/api/v4/prometheus", "/metrics" })
        {
            using var refused = await anonymous.GetAsync(path, TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.StartsWith("Basic", refused.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("# TYPE a counter\na_total 1\n", true)]
    [InlineData("# HELP a x\n# TYPE a gauge\na 1\n", true)]
    [InlineData("a{b=\"c\"} 1.5e3 1700000000\n", true)]
    [InlineData("9a 1\n", false)]
    [InlineData("a 1\n# TYPE a gauge\n", false)]
    [InlineData("# TYPE a gauge\n# TYPE a gauge\na 1\n", false)]
    [InlineData("# TYPE a bogus\na 1\n", false)]
    [InlineData("a one\n", false)]
    [InlineData("a 1", false)]
    [InlineData("a{b=c} 1\n", false)]
    public void ExpositionChecker_ItselfRejectsWhatTheFormatForbids(string text, bool valid)
    {
        if (valid)
            PrometheusExposition.Parse(text);
        else
            Assert.ThrowsAny<FormatException>(() => PrometheusExposition.Parse(text));
    }
}
