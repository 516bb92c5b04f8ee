using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>SDK 1.4, 1.5 and 2.0 through the real plugin host: the test plugin TestPlugins.Hello loaded by a real broker.</summary>
public sealed class PluginSdkTests
{
    private static Task<BrokerProcess> StartWithHelloAsync(string conf, Action<BrokerOptions>? more = null) =>
        BrokerProcess.StartAsync(o =>
        {
            o.HomeContent["plugins/hello"] = TestPlugins.OutputOf("TestPlugins.Hello");
            o.PluginConf["hello"] = conf;
            o.LoadedPlugins.Add("hello");
            more?.Invoke(o);
        });

    /// <summary>The metrics object of `ctl --json broker metrics`.</summary>
    private static async Task<System.Text.Json.JsonElement> MetricsAsync(BrokerProcess broker)
    {
        var metrics = await CtlRunner.RunAsync(broker, "--json", "broker", "metrics");
        Assert.True(metrics.ExitCode == 0, metrics.Transcript);
        return System.Text.Json.JsonDocument.Parse(metrics.Stdout).RootElement.GetProperty("data")[0].GetProperty("metrics").Clone();
    }

    // IPluginContext.Meter (SDK 1.5): a plugin's System.Diagnostics.Metrics instruments in ctl broker metrics, the API
    // and Prometheus, summed over their tags, and gone once the plugin is unloaded.
    [Fact]
    public async Task Meter_PluginCounterAndHistogram_ExportedUntilThePluginIsUnloaded()
    {
        await using var broker = await StartWithHelloAsync("greeting = hi\n");
        await MosquittoClients.PublishAsync(broker, ["-t", "hello/a", "-q", "1", "-m", "abc"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "hello/b", "-q", "1", "-m", "abcde"]);

        var metrics = await MetricsAsync(broker);
        Assert.Equal(2, metrics.GetProperty("hello.greeted").GetInt64());
        Assert.Equal(2, metrics.GetProperty("hello.payload_bytes.count").GetInt64());
        Assert.Equal(8, metrics.GetProperty("hello.payload_bytes.sum").GetInt64());
        Assert.True(metrics.GetProperty("hello.ticks").GetInt64() >= 0); // an observable gauge, read when exported
        using var http = broker.CreateManagementClient();
        var prometheus = await http.GetStringAsync("api/v4/prometheus", TestContext.Current.CancellationToken);
        Assert.Contains("# TYPE broker_plugin_hello_greeted_total counter\nbroker_plugin_hello_greeted_total 2\n", prometheus, StringComparison.Ordinal);
        Assert.Contains("broker_plugin_hello_payload_bytes_count 2\n", prometheus, StringComparison.Ordinal);

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "hello");
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        Assert.False((await MetricsAsync(broker)).TryGetProperty("hello.greeted", out _));
    }

    // IPluginContext.SubscribeInternal (SDK 1.5): the plugin receives what mosquitto_pub publishes, with its metadata
    // (client id, user name, address, node, id), without a client session; unloading the plugin ends it.
    [Fact]
    public async Task SubscribeInternal_PluginReceivesMatchesWithMetadata_UntilUnloaded()
    {
        await using var broker = await StartWithHelloAsync("mirror_from = sensors/#\n", o => o.Users.Add(("alice", "alice-password")));
        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "mirror/#", "-q", "1", "-i", "mirror-watch");

        await MosquittoClients.PublishAsync(broker, ["-t", "sensors/a", "-q", "1", "-m", "21.5", "-i", "thermo-1", "-u", "alice", "-P", "alice-password"]);

        var mirrored = (await MosquittoClients.MessagesAsync(sub, 1))[0];
        Assert.Equal(("mirror/sensors/a", "thermo-1|alice|127.0.0.1|broker@127.0.0.1|32"), (mirrored.Topic, mirrored.Payload));

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "hello");
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        await MosquittoClients.PublishAsync(broker, ["-t", "sensors/b", "-q", "1", "-m", "22"]);
        await MosquittoClients.PublishAsync(broker, ["-t", "mirror/end", "-q", "1", "-m", "end"]);
        // Nothing mirrored sensors/b: the next message the watcher gets is the end marker.
        Assert.Equal("mirror/end", (await MosquittoClients.MessagesAsync(sub, 2))[1].Topic);
    }

    // IPluginContext.Http and ReadModel (SDK 1.5): a plugin's endpoints under /api/v4/plugins/<name>/api/ with the management API's
    // credentials, listed with the plugin, a failing one answered 500 while the API serves on, gone once unloaded.
    [Fact]
    public async Task Http_PluginEndpoints_AuthenticatedListedIsolatedAndRemovedWithThePlugin()
    {
        await using var broker = await StartWithHelloAsync("greeting = bonjour\n");
        using var http = broker.CreateManagementClient();
        var ct = TestContext.Current.CancellationToken;

        await using var sub = await MosquittoClients.SubscribeAsync(broker, "-t", "dash/#", "-i", "dash-watch");
        await MosquittoClients.PublishAsync(broker, ["-t", "dash/x", "-q", "1", "-m", "m"]);
        var greeting = await http.GetAsync("api/v4/plugins/hello/api/greeting", ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, greeting.StatusCode);
        var json = System.Text.Json.JsonDocument.Parse(await greeting.Content.ReadAsStringAsync(ct)).RootElement;
        Assert.Equal("bonjour", json.GetProperty("greeting").GetString());
        // The read model (SDK 1.5) agrees with the API: one connection (the subscriber), the published message, the
        // listener, the route, and the plugin itself running.
        var stats = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync("api/v4/stats", ct)).RootElement.GetProperty("data")[0].GetProperty("stats");
        Assert.Equal(stats.GetProperty("connections.count").GetInt64(), json.GetProperty("connections").GetInt64());
        Assert.True(json.GetProperty("received").GetInt64() >= 1);
        Assert.Contains("mqtt:tcp:external", json.GetProperty("listeners").GetString(), StringComparison.Ordinal);
        Assert.Contains("dash/#", json.GetProperty("routes").GetString(), StringComparison.Ordinal);
        Assert.Contains("hello:running", json.GetProperty("plugins").GetString(), StringComparison.Ordinal);
        var echo = await http.PostAsync("api/v4/plugins/hello/api/echo/hi?n=3", new StringContent("body!"), ct);
        Assert.Equal((System.Net.HttpStatusCode.Created, "hi 3 body!"), (echo.StatusCode, await echo.Content.ReadAsStringAsync(ct)));

        using (var anonymous = new HttpClient { BaseAddress = broker.ManagementUrl })
            Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/v4/plugins/hello/api/greeting", ct)).StatusCode);
        var boom = await http.GetAsync("api/v4/plugins/hello/api/boom", ct);
        Assert.Equal(System.Net.HttpStatusCode.InternalServerError, boom.StatusCode);
        Assert.Contains("backend is down", System.Text.Json.JsonDocument.Parse(await boom.Content.ReadAsStringAsync(ct)).RootElement.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("api/v4/plugins/hello/api/nothing", ct)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("api/v4/stats", ct)).StatusCode);

        var list = await http.GetStringAsync("api/v4/plugins/hello", ct);
        Assert.Contains("GET /api/v4/plugins/hello/api/greeting", list, StringComparison.Ordinal);

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "hello");
        Assert.True(unload.ExitCode == 0, unload.Transcript);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await http.GetAsync("api/v4/plugins/hello/api/greeting", ct)).StatusCode);
        var load = await CtlRunner.RunAsync(broker, "plugins", "load", "hello");
        Assert.True(load.ExitCode == 0, load.Transcript);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync("api/v4/plugins/hello/api/greeting", ct)).StatusCode);
    }

    // HookOptions.OnFailure: a callback that fails (here: throws) denies by default; with Ignore the next source
    // decides (here allow_anonymous, on in the test broker), as an auth backend an operator lets fail open.
    [Theory]
    [InlineData("default", 0x86)]
    [InlineData("ignore", 0x00)]
    public async Task HookOptions_FailingAuthenticateCallback_FailureActionDecides(string onFailure, byte expected)
    {
        await using var broker = await StartWithHelloAsync($"on_failure = {onFailure}\n");
        await using var client = await RawMqttClient.ConnectAsync(broker);

        await client.SendAsync(ConnectPacket("fail-" + onFailure, V5, username: "unlucky", password: "x"));

        Assert.Equal(expected, ConnackCode(await client.ReceiveAsync(Connack)));
        await broker.WaitForLogAsync(l => l.Contains("client.authenticate callback of hello", StringComparison.Ordinal) && l.Contains("threw", StringComparison.Ordinal), "the counted failure");
    }

    // ClientInfo.CertificateCommonName: a plugin sees the TLS client certificate's CN (EMQX's %C).
    [Fact]
    public async Task ClientInfo_TlsClientCertificate_PluginSeesItsCommonName()
    {
        using var certs = TestCertificates.Create();
        await using var broker = await StartWithHelloAsync($"deny_cert_cn = {TestCertificates.ClientCommonName}\n", o =>
        {
            certs.Configure(o, "ssl");
            o["listener.ssl.external.verify"] = "verify_peer";
        });
        var port = (await broker.ListenerPortAsync("ssl:external")).ToString(System.Globalization.CultureInfo.InvariantCulture);
        string[] tls = ["-p", port, "--cafile", certs.CaFile, "-t", "cn/t", "-m", "x", "-q", "1"];

        // Without a client certificate the CN is null and the plugin lets the client in; with device-42's it refuses.
        await MosquittoClients.PublishAsync(broker, tls);
        await using var refused = MosquittoClients.StartPub(broker, [.. tls, "--cert", certs.ClientCertFile, "--key", certs.ClientKeyFile]);
        var code = await refused.WaitForExitAsync(MosquittoClients.Timeout);

        Assert.NotEqual(0, code);
        // The client may exit before the broker's log line about it is written.
        await broker.WaitForLogAsync(l => l.Contains("refused", StringComparison.Ordinal), "the refused CONNECT logged");
    }

    // IPluginContext.ClientState: what authenticate attached, authorize reads (MQTT 5 PUBACK 0x87 for a denied
    // publish), and unloading the plugin drops it: the plugin's code is collected although the client stays connected.
    [Fact]
    public async Task ClientState_AttachedAtConnect_ReadAtAuthorizeAndDroppedOnUnload()
    {
        await using var broker = await StartWithHelloAsync("");
        await using var client = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("scoped", V5, username: "scoped-a", password: "x"));

        await client.SendAsync(PublishPacket("scoped/scoped-a/t", "mine", 1, 1, V5));
        Assert.Equal(0x10, ReasonCode(await client.ReceiveAsync(Puback))); // allowed; nobody subscribed
        await client.SendAsync(PublishPacket("other/t", "not mine", 1, 2, V5));
        Assert.Equal(0x87, ReasonCode(await client.ReceiveAsync(Puback)));

        var unload = await CtlRunner.RunAsync(broker, "plugins", "unload", "hello");
        Assert.Equal(0, unload.ExitCode);
        var list = await CtlRunner.RunAsync(broker, "plugins", "list");
        Assert.DoesNotContain("leaking", list.Stdout, StringComparison.Ordinal);
        await client.SendAsync(PublishPacket("other/t", "now allowed", 1, 3, V5));
        Assert.Equal(0x10, ReasonCode(await client.ReceiveAsync(Puback)));
    }

    // SDK 2.0, HookOptions.Blocking: a plugin's synchronous backend call never holds a connection I/O thread. With one
    // I/O thread, a client connected beside the one being authenticated is served while the authentication blocks
    // (without the flag, its PUBACK would wait the whole hold); the plugin listing shows the calls.
    [Fact]
    public async Task BlockingHook_OffTheIoThread_OtherClientsOfThatThreadServedMeanwhile()
    {
        await using var broker = await StartWithHelloAsync("blocking_user = slow\nblocking_hold = 3s\n",
            o => o["listener.tcp.external.io_threads"] = "1");
        await using var other = await RawMqttClient.ConnectMqttAsync(broker, ConnectPacket("other", V5));
        await using var slow = await RawMqttClient.ConnectAsync(broker);

        await slow.SendAsync(ConnectPacket("slow", V5, username: "slow", password: "x"));
        var connack = slow.ReceiveAsync(Connack, TimeSpan.FromSeconds(20));
        await other.SendAsync(PublishPacket("t", "meanwhile", 1, 1, V5));
        await other.ReceiveAsync(Puback);

        Assert.False(connack.IsCompleted, "the blocking authentication should still be running when the other client's PUBACK arrives");
        Assert.Equal(0x00, (await connack).Body[1]); // CONNACK reason code: allowed by the blocking callback
        var plugins = await CtlRunner.RunAsync(broker, "--json", "plugins", "list");
        Assert.True(plugins.ExitCode == 0, plugins.Transcript);
        var hello = System.Text.Json.JsonDocument.Parse(plugins.Stdout).RootElement.GetProperty("data").EnumerateArray()
            .Single(p => p.GetProperty("name").GetString() == "hello");
        Assert.True(hello.GetProperty("hook_offloaded_calls").GetInt64() >= 1, plugins.Stdout);
        Assert.True(hello.GetProperty("hook_calls").GetInt64() >= 2, plugins.Stdout); // its other callbacks, on the I/O thread
        Assert.Matches(@"(?m)^hello\s+1\.0\.0\s+running\s+yes\s+\d+\s+[\d.]+ms\s+0\s", (await CtlRunner.RunAsync(broker, "plugins", "list")).Stdout);
    }
}
