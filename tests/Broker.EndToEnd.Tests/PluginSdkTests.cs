using Broker.EndToEnd.Tests.Infrastructure;
using static Broker.EndToEnd.Tests.Infrastructure.MqttBytes;

namespace Broker.EndToEnd.Tests;

/// <summary>SDK 1.4 through the real plugin host: the test plugin TestPlugins.Hello loaded by a real broker.</summary>
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
        Assert.Contains("refused", broker.Transcript, StringComparison.Ordinal);
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
}
