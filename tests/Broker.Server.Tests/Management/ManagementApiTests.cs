using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Broker.Core;
using Broker.Core.Configuration;
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
        _engine = new BrokerEngine(new MqttOptions(), new Broker.Core.Configuration.SessionOptions(), new AccessControlOptions(),
            new BrokerOptions { NodeName = "test@127.0.0.1" }, TimeProvider.System, NullLoggerFactory.Instance);
        ManagementApi.Map(_app, _engine, new ManagementCredentials("admin", Secret, null));
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
}
