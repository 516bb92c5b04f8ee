using System.Net;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests;

/// <summary>The management HTTP API of the real broker process, with real MQTT clients connected.</summary>
public sealed class ManagementApiTests
{
    private static async Task<JsonElement> GetJsonAsync(HttpClient http, string path, HttpStatusCode expected = HttpStatusCode.OK)
    {
        using var response = await http.GetAsync(path, TestContext.Current.CancellationToken);
        var text = await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken);
        Assert.True(response.StatusCode == expected, $"GET {path}: {(int)response.StatusCode} {text}");
        return JsonDocument.Parse(text).RootElement.Clone();
    }

    private static JsonElement? FindClient(JsonElement answer, string clientId) =>
        answer.GetProperty("data").EnumerateArray().Where(c => c.GetProperty("clientid").GetString() == clientId).Select(c => (JsonElement?)c).FirstOrDefault();

    [Fact]
    public async Task Start_NoSecretConfigured_GeneratesOneAndLogsWhereItIs()
    {
        await using var broker = await BrokerProcess.StartAsync();
        var path = Path.Combine(broker.HomeDirectory, "data", "management.secret");
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
        Assert.Contains(path, broker.Transcript, StringComparison.Ordinal);
        Assert.DoesNotContain(broker.ManagementSecret, broker.Transcript, StringComparison.Ordinal);
    }

    // EMQX 4's /api/v4/apps: another application's id and secret work while it is enabled and not expired, are
    // refused once disabled, expired or deleted, survive a restart, and only its hash is on disk.
    [Fact]
    public async Task Apps_CreatedUsedDisabledExpiredDeleted_AndKeptAcrossARestart()
    {
        var broker = await BrokerProcess.StartAsync();
        await using var first = broker;
        using var admin = broker.CreateManagementClient();
        async Task<HttpStatusCode> SendAsync(HttpMethod method, string path, string? json = null)
        {
            using var request = new HttpRequestMessage(method, path) { Content = json is null ? null : new StringContent(json, System.Text.Encoding.UTF8, "application/json") };
            using var response = await admin.SendAsync(request, TestContext.Current.CancellationToken);
            return response.StatusCode;
        }
        using var created = await admin.PostAsync("api/v4/apps", new StringContent("""{"app_id":"grafana","name":"Grafana","desc":"dashboards"}""",
            System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        var answer = JsonDocument.Parse(await created.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).RootElement;
        Assert.True(created.IsSuccessStatusCode, answer.ToString());
        var secret = answer.GetProperty("data").GetProperty("secret").GetString()!;
        Assert.True(secret.Length >= 40);
        Assert.Equal(HttpStatusCode.Conflict, await SendAsync(HttpMethod.Post, "api/v4/apps", """{"app_id":"grafana"}"""));
        Assert.Equal(HttpStatusCode.BadRequest, await SendAsync(HttpMethod.Delete, "api/v4/apps/admin")); // the default one
        // A secret of one's own must be as long as a made one (it is kept as a plain SHA-256).
        Assert.Equal(HttpStatusCode.BadRequest, await SendAsync(HttpMethod.Post, "api/v4/apps", """{"app_id":"mine","secret":"short-and-guessable"}"""));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Post, "api/v4/apps", """{"app_id":"mine","secret":"0123456789abcdef0123456789abcdef"}"""));

        async Task<HttpStatusCode> AsGrafanaAsync(BrokerProcess b)
        {
            using var http = new HttpClient { BaseAddress = b.ManagementUrl };
            http.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("grafana:" + secret)));
            using var response = await http.GetAsync("api/v4/stats", TestContext.Current.CancellationToken);
            return response.StatusCode;
        }
        Assert.Equal(HttpStatusCode.OK, await AsGrafanaAsync(broker));
        var apps = await GetJsonAsync(admin, "api/v4/apps");
        Assert.Equal(["admin", "grafana", "mine"], apps.GetProperty("data").EnumerateArray().Select(a => a.GetProperty("app_id").GetString()));
        var stored = await File.ReadAllTextAsync(Path.Combine(broker.HomeDirectory, "data", "management_apps.json"), TestContext.Current.CancellationToken);
        Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Put, "api/v4/apps/grafana", """{"status":false}"""));
        Assert.Equal(HttpStatusCode.Unauthorized, await AsGrafanaAsync(broker));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Put, "api/v4/apps/grafana", """{"status":true,"expired":1000}""")); // 1970
        Assert.Equal(HttpStatusCode.Unauthorized, await AsGrafanaAsync(broker));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(HttpMethod.Put, "api/v4/apps/grafana", """{"expired":0}"""));

        await using var restarted = await broker.RestartAsync();
        Assert.Equal(HttpStatusCode.OK, await AsGrafanaAsync(restarted));
        using var admin2 = restarted.CreateManagementClient();
        using var deleted = await admin2.DeleteAsync("api/v4/apps/grafana", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, await AsGrafanaAsync(restarted));
    }

    [Fact]
    public async Task Api_WithoutOrWithWrongCredentials_Is401()
    {
        await using var broker = await BrokerProcess.StartAsync();
        using var anonymous = new HttpClient { BaseAddress = broker.ManagementUrl };
        using var none = await anonymous.GetAsync("api/v4/clients", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, none.StatusCode);
        Assert.Contains("Basic", none.Headers.WwwAuthenticate.ToString(), StringComparison.Ordinal);

        anonymous.DefaultRequestHeaders.Authorization = new("Basic", Convert.ToBase64String("admin:public"u8.ToArray()));
        using var wrong = await anonymous.GetAsync("api/v4/clients", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);

        using var http = broker.CreateManagementClient();
        await GetJsonAsync(http, "api/v4/clients");
    }

    [Fact]
    public async Task Clients_MosquittoSubConnected_IsListedFilteredAndShown()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "mgmt-sub", "-u", "alice", "-t", "mgmt/#", "-t", "$share/g/jobs", "-q", "1");
        using var http = broker.CreateManagementClient();

        var all = await GetJsonAsync(http, "api/v4/clients");
        Assert.Equal(0, all.GetProperty("code").GetInt32());
        var client = FindClient(all, "mgmt-sub") ?? throw new Xunit.Sdk.XunitException($"mgmt-sub not listed: {all}");
        Assert.Equal("alice", client.GetProperty("username").GetString());
        Assert.True(client.GetProperty("connected").GetBoolean());
        Assert.Equal("127.0.0.1", client.GetProperty("ip_address").GetString());
        Assert.Equal("MQTT", client.GetProperty("proto_name").GetString());
        Assert.Equal(4, client.GetProperty("proto_ver").GetInt32());
        Assert.Equal(2, client.GetProperty("subscriptions_cnt").GetInt32());
        Assert.Equal(1, all.GetProperty("meta").GetProperty("count").GetInt32());

        Assert.NotNull(FindClient(await GetJsonAsync(http, "api/v4/clients?username=alice"), "mgmt-sub"));
        Assert.Equal(0, (await GetJsonAsync(http, "api/v4/clients?username=bob")).GetProperty("data").GetArrayLength());
        Assert.NotNull(FindClient(await GetJsonAsync(http, "api/v4/clients?clientid=mgmt-sub"), "mgmt-sub"));
        // EMQX 4's fuzzy search (the dashboard's search box): a part of the client id or user name, case-sensitive.
        Assert.NotNull(FindClient(await GetJsonAsync(http, "api/v4/clients?_like_clientid=gmt-s"), "mgmt-sub"));
        Assert.Equal(0, (await GetJsonAsync(http, "api/v4/clients?_like_clientid=GMT-S")).GetProperty("data").GetArrayLength());
        Assert.NotNull(FindClient(await GetJsonAsync(http, "api/v4/clients?_like_username=lic"), "mgmt-sub"));
        Assert.Equal(0, (await GetJsonAsync(http, "api/v4/clients?_like_clientid=nobody")).GetProperty("data").GetArrayLength());
        Assert.NotNull(FindClient(await GetJsonAsync(http, "api/v4/clients/mgmt-sub"), "mgmt-sub"));
        Assert.Equal(0, (await GetJsonAsync(http, "api/v4/clients?_page=2&_limit=1")).GetProperty("data").GetArrayLength());

        var subscriptions = await GetJsonAsync(http, "api/v4/subscriptions?clientid=mgmt-sub");
        var topics = subscriptions.GetProperty("data").EnumerateArray().Select(s => (s.GetProperty("topic").GetString(), s.GetProperty("qos").GetInt32())).ToList();
        Assert.Equal([("$share/g/jobs", 1), ("mgmt/#", 1)], topics);
        Assert.Equal(2, (await GetJsonAsync(http, "api/v4/subscriptions")).GetProperty("meta").GetProperty("count").GetInt32());

        var stats = (await GetJsonAsync(http, "api/v4/stats")).GetProperty("data")[0].GetProperty("stats");
        Assert.Equal(1, stats.GetProperty("connections.count").GetInt64());
        Assert.Equal(2, stats.GetProperty("subscriptions.count").GetInt64());
    }

    [Fact]
    public async Task Clients_BadPaging_Is400()
    {
        await using var broker = await BrokerProcess.StartAsync();
        using var http = broker.CreateManagementClient();
        var answer = await GetJsonAsync(http, "api/v4/clients?_limit=abc", HttpStatusCode.BadRequest);
        Assert.Equal(108, answer.GetProperty("code").GetInt32());
        Assert.Contains("_limit", answer.GetProperty("message").GetString(), StringComparison.Ordinal);
    }

    // 5.0 §3.14.2.1: 0x98 Administrative action.
    [Fact]
    public async Task Kick_Mqtt5Client_GetsDisconnect0x98AndIsGone()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, MqttBytes.ConnectPacket("kick-v5", MqttBytes.V5, sessionExpiry: 3600));
        using var http = broker.CreateManagementClient();

        using var kick = await http.DeleteAsync("api/v4/clients/kick-v5", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, kick.StatusCode);
        Assert.Equal("{\"code\":0}", await kick.Content.ReadAsStringAsync(TestContext.Current.CancellationToken));

        var packets = await client.WaitForCloseAsync();
        Assert.Equal(0x98, MqttBytes.ReasonCode(Assert.Single(packets, p => p.Type == MqttBytes.Disconnect)));
        // The session (expiry 1 h) is discarded too: the client is not listed as offline.
        Assert.Null(FindClient(await GetJsonAsync(http, "api/v4/clients"), "kick-v5"));
        await GetJsonAsync(http, "api/v4/clients/kick-v5", HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task Kick_MosquittoSub_ClosesItsConnection()
    {
        await using var broker = await BrokerProcess.StartAsync();
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-i", "kick-sub", "-t", "k/#");
        using var http = broker.CreateManagementClient();

        using var kick = await http.DeleteAsync("api/v4/clients/kick-sub", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, kick.StatusCode);
        await broker.WaitForLogAsync(l => l.Contains("Client kick-sub disconnected: kicked", StringComparison.Ordinal), "kick-sub disconnected: kicked");
    }

    [Fact]
    public async Task Kick_UnknownClient_Is404()
    {
        await using var broker = await BrokerProcess.StartAsync();
        using var http = broker.CreateManagementClient();
        using var kick = await http.DeleteAsync("api/v4/clients/nobody", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.NotFound, kick.StatusCode);
    }

    // Issue 17 item 7: repeated failed sign-ins are slowed (429 with Retry-After after 5 in a minute, per address) and
    // logged, while the right credentials from another address still work.
    [Fact]
    public async Task SignIn_RepeatedFailures_AddressRefusedAndLogged_OtherAddressesUnaffected()
    {
        await using var broker = await BrokerProcess.StartAsync();
        using var attacker = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{broker.ManagementPort}/") };
        attacker.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String("admin:guess"u8.ToArray()));

        var codes = new List<int>();
        for (var i = 0; i < 8; i++)
        {
            using var answer = await attacker.GetAsync("api/v4/brokers", TestContext.Current.CancellationToken);
            codes.Add((int)answer.StatusCode);
            if (i == 7)
                Assert.True(answer.Headers.RetryAfter?.Delta > TimeSpan.Zero, "no Retry-After");
        }

        Assert.Equal([401, 401, 401, 401, 401, 429, 429, 429], codes);
        await broker.WaitForLogAsync(l => l.Contains("5 failed sign-ins from 127.0.0.1", StringComparison.Ordinal), "the log line");
        // The operator, from another address (127.0.0.2 as source), signs in with the right secret.
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                socket.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("127.0.0.2"), 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
            },
        };
        using var operatorClient = new HttpClient(handler) { BaseAddress = new Uri($"http://127.0.0.1:{broker.ManagementPort}/") };
        operatorClient.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue(
            "Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("admin:" + broker.ManagementSecret)));
        using var ok = await operatorClient.GetAsync("api/v4/brokers", TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.OK, ok.StatusCode);
    }
}
