using System.Globalization;
using System.Text.Json;
using Broker.EndToEnd.Tests.Infrastructure;

namespace Broker.EndToEnd.Tests.Listeners;

/// <summary>The MQTT/TLS listener (listener.ssl.external) with mosquitto_pub/sub (libmosquitto + OpenSSL) as clients.</summary>
public sealed class TlsListenerTests
{
    private static string[] Tls(int port, params string[] more) => ["-p", port.ToString(CultureInfo.InvariantCulture), .. more];

    private static async Task<(int Code, string Transcript)> PublishOnceAsync(BrokerProcess broker, string[] arguments)
    {
        await using var pub = MosquittoClients.StartPub(broker, arguments);
        var code = await pub.WaitForExitAsync(MosquittoClients.Timeout);
        return (code, pub.Transcript);
    }

    [Fact]
    public async Task Tls_ServerCertificateFromTestCa_MosquittoPublishesAndSubscribesWithCafile()
    {
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o => certs.Configure(o, "ssl"));
        var port = await broker.ListenerPortAsync("ssl:external");

        await using var sub = await MosquittoClients.SubscribeAsync(broker, Tls(port, "--cafile", certs.CaFile, "-t", "tls/t", "-q", "1"));
        await MosquittoClients.PublishAsync(broker, Tls(port, "--cafile", certs.CaFile, "-t", "tls/t", "-q", "1", "-m", "over tls"));

        var message = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
        Assert.Equal("over tls", message.Payload);
    }

    [Fact]
    public async Task Tls_ClientThatNeverStartsTheHandshake_IsClosedByTheHandshakeTimeout_WhileOthersAreServed()
    {
        // The handshake's 10 s timeout cancels a read waiting on the epoll transport (EpollTransportFactory): without
        // it, a silent connection would hold its descriptor for ever.
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o => certs.Configure(o, "ssl"));
        var port = await broker.ListenerPortAsync("ssl:external");
        using var silent = new System.Net.Sockets.TcpClient();
        await silent.ConnectAsync(System.Net.IPAddress.Loopback, port, TestContext.Current.CancellationToken);
        var opened = System.Diagnostics.Stopwatch.StartNew();

        await MosquittoClients.PublishAsync(broker, Tls(port, "--cafile", certs.CaFile, "-t", "tls/t", "-m", "meanwhile"));
        var read = await silent.GetStream().ReadAsync(new byte[16], TestContext.Current.CancellationToken).AsTask()
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(0, read);
        Assert.InRange(opened.Elapsed.TotalSeconds, 9, 30);
    }

    [Fact]
    public async Task Tls_ClientTrustsAnotherCa_HandshakeFails()
    {
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o => certs.Configure(o, "ssl"));
        var port = await broker.ListenerPortAsync("ssl:external");

        var (code, transcript) = await PublishOnceAsync(broker, Tls(port, "--cafile", certs.OtherCaFile, "-t", "tls/t", "-m", "x"));

        Assert.True(code != 0, $"mosquitto_pub trusted a server certificate of another CA\n{transcript}");
        Assert.DoesNotContain("connected from", broker.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_VerifyPeer_ClientCertificateOfTheCa_ConnectsAndCnBecomesUsername()
    {
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            certs.Configure(o, "ssl");
            o["listener.ssl.external.verify"] = "verify_peer";
            o["listener.ssl.external.fail_if_no_peer_cert"] = "true";
            o["listener.ssl.external.peer_cert_as_username"] = "cn";
        });
        var port = await broker.ListenerPortAsync("ssl:external");

        // The CONNECT claims another username: the certificate's CN replaces it before authentication.
        await using var sub = await MosquittoClients.SubscribeAsync(broker, Tls(port,
            "--cafile", certs.CaFile, "--cert", certs.ClientCertFile, "--key", certs.ClientKeyFile,
            "-i", "mtls-sub", "-u", "somebody-else", "-t", "mtls/t"));

        using var http = broker.CreateManagementClient();
        var text = await http.GetStringAsync("api/v4/clients/mtls-sub", TestContext.Current.CancellationToken);
        var client = JsonDocument.Parse(text).RootElement.GetProperty("data")[0];
        Assert.Equal(TestCertificates.ClientCommonName, client.GetProperty("username").GetString());
        Assert.Equal("ssl:external", client.GetProperty("listener").GetString());
    }

    [Fact]
    public async Task Tls_VerifyPeer_ClientCertificateOfAnotherCa_HandshakeFails()
    {
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            certs.Configure(o, "ssl");
            o["listener.ssl.external.verify"] = "verify_peer";
        });
        var port = await broker.ListenerPortAsync("ssl:external");

        var (code, transcript) = await PublishOnceAsync(broker, Tls(port,
            "--cafile", certs.CaFile, "--cert", certs.OtherClientCertFile, "--key", certs.OtherClientKeyFile, "-t", "tls/t", "-m", "x"));

        Assert.True(code != 0, $"the broker accepted a client certificate that does not chain to cacertfile\n{transcript}");
        Assert.DoesNotContain("connected from", broker.Transcript, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tls_FailIfNoPeerCert_ClientWithoutCertificate_HandshakeFails_AndWithoutItIsAdmitted()
    {
        using var certs = TestCertificates.Create();
        await using var strict = await BrokerProcess.StartAsync(o =>
        {
            certs.Configure(o, "ssl");
            o["listener.ssl.external.verify"] = "verify_peer";
            o["listener.ssl.external.fail_if_no_peer_cert"] = "true";
        });
        var port = await strict.ListenerPortAsync("ssl:external");
        var (code, transcript) = await PublishOnceAsync(strict, Tls(port, "--cafile", certs.CaFile, "-t", "tls/t", "-m", "x"));
        Assert.True(code != 0, $"fail_if_no_peer_cert = true admitted a client without a certificate\n{transcript}");

        // The contrast: verify_peer alone asks for a certificate but does not require one.
        await using var lenient = await BrokerProcess.StartAsync(o =>
        {
            certs.Configure(o, "ssl");
            o["listener.ssl.external.verify"] = "verify_peer";
        });
        port = await lenient.ListenerPortAsync("ssl:external");
        (code, transcript) = await PublishOnceAsync(lenient, Tls(port, "--cafile", certs.CaFile, "-t", "tls/t", "-m", "x"));
        Assert.True(code == 0, transcript);
    }

    [Fact]
    public async Task Tls_NoCertificateConfigured_GeneratesDevelopmentCertificateInDataCertsAndWarns()
    {
        await using var broker = await BrokerProcess.StartAsync(o => o["listener.ssl.external"] = "127.0.0.1:0");
        var port = await broker.ListenerPortAsync("ssl:external");

        var certFile = Path.Combine(broker.HomeDirectory, "data", "certs", "cert.pem");
        var keyFile = Path.Combine(broker.HomeDirectory, "data", "certs", "key.pem");
        Assert.True(File.Exists(certFile) && File.Exists(keyFile), broker.Transcript);
        if (!OperatingSystem.IsWindows())
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        await broker.WaitForLogAsync(l => l.Contains("self-signed development certificate generated", StringComparison.Ordinal), "the development certificate warning");
        Assert.DoesNotContain("PRIVATE KEY", broker.Transcript, StringComparison.Ordinal);

        // The certificate names 127.0.0.1, so a client that trusts it verifies the server normally.
        var (code, transcript) = await PublishOnceAsync(broker, Tls(port, "--cafile", certFile, "-t", "dev/t", "-m", "x"));
        Assert.True(code == 0, transcript);
    }

    [Fact]
    public async Task Tls_DevelopmentCertificateExists_IsReusedNotRegenerated()
    {
        using var home = TestCertificates.Create(); // only for a temp folder that outlives one broker
        var data = Path.Combine(home.Directory, "certs");
        byte[] first;
        {
            await using var broker = await BrokerProcess.StartAsync(o => o["listener.ssl.external"] = "127.0.0.1:0");
            await broker.ListenerPortAsync("ssl:external");
            Directory.CreateDirectory(data);
            File.Copy(Path.Combine(broker.HomeDirectory, "data", "certs", "cert.pem"), Path.Combine(data, "cert.pem"));
            File.Copy(Path.Combine(broker.HomeDirectory, "data", "certs", "key.pem"), Path.Combine(data, "key.pem"));
            first = await File.ReadAllBytesAsync(Path.Combine(data, "cert.pem"), TestContext.Current.CancellationToken);
        }

        await using var again = await BrokerProcess.StartAsync(o =>
        {
            o["listener.ssl.external"] = "127.0.0.1:0";
            o.HomeContent["data/certs"] = data;
        });
        await again.ListenerPortAsync("ssl:external");
        await again.WaitForLogAsync(l => l.Contains("self-signed development certificate reused", StringComparison.Ordinal), "reuse warning");
        Assert.Equal(first, await File.ReadAllBytesAsync(Path.Combine(again.HomeDirectory, "data", "certs", "cert.pem"), TestContext.Current.CancellationToken));
    }
}
