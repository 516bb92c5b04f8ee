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
    public async Task Tls_MegabytePayload_ArrivesWhole()
    {
        // Many TLS records each way, records split across receives: the OpenSSL layer's partial records (TlsPipe).
        // 1,000,000 bytes: the packet stays under mqtt.max_packet_size (1 MB).
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o => certs.Configure(o, "ssl"));
        var port = await broker.ListenerPortAsync("ssl:external");
        var payload = string.Create(1_000_000, 0, static (chars, _) =>
        {
            for (var i = 0; i < chars.Length; i++)
                chars[i] = (char)('a' + (i * 7 + i / 26) % 26);
        });
        var file = Path.Combine(certs.Directory, "payload.txt");
        await File.WriteAllTextAsync(file, payload, TestContext.Current.CancellationToken);

        await using var sub = await MosquittoClients.SubscribeAsync(broker, Tls(port, "--cafile", certs.CaFile, "-t", "tls/big", "-q", "1"));
        await MosquittoClients.PublishAsync(broker, Tls(port, "--cafile", certs.CaFile, "-t", "tls/big", "-q", "1", "-f", file));

        var message = Assert.Single(await MosquittoClients.MessagesAsync(sub, 1));
        Assert.Equal(payload.Length, message.Payload.Length);
        Assert.True(payload == message.Payload, "the payload arrived changed");
    }

    [Fact]
    public async Task Tls_VersionsTls13Only_RefusesATls12ClientAndSaysWhy_AdmitsTls13()
    {
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o =>
        {
            certs.Configure(o, "ssl");
            o["listener.ssl.external.tls_versions"] = "tlsv1.3";
        });
        var port = await broker.ListenerPortAsync("ssl:external");

        // openssl s_client speaking only the version given (mosquitto_pub's --tls-version is a minimum).
        var (code, transcript) = await HandshakeAsync(port, "-tls1_2", certs.CaFile);
        Assert.True(code != 0, $"tls_versions = tlsv1.3 admitted a TLS 1.2 client\n{transcript}");
        // The operator reads why in the log: OpenSSL's reason, with the listener and the client's address.
        await broker.WaitForLogAsync(l => l.Contains("TLS handshake on ssl:external from 127.0.0.1:", StringComparison.Ordinal)
            && l.Contains("unsupported protocol", StringComparison.Ordinal), "the handshake failure's log line");

        (code, transcript) = await HandshakeAsync(port, "-tls1_3", certs.CaFile);
        Assert.True(code == 0, transcript);
        Assert.Contains("Protocol version: TLSv1.3", transcript, StringComparison.Ordinal);
    }

    /// <summary>A TLS handshake by openssl s_client (checking the server against <paramref name="caFile"/>), then its end.</summary>
    private static async Task<(int Code, string Transcript)> HandshakeAsync(int port, string version, string caFile)
    {
        await using var client = ChildProcess.Start(Tools.Require("openssl", "openssl"),
            ["s_client", "-connect", "127.0.0.1:" + port.ToString(CultureInfo.InvariantCulture), version, "-CAfile", caFile, "-verify_return_error", "-brief"],
            redirectStdin: true);
        client.StandardInput.Close();
        var code = await client.WaitForExitAsync(MosquittoClients.Timeout);
        return (code, client.Transcript);
    }

    [Fact]
    public async Task Tls_ListenerStopped_AHandshakeUnderWayEndsAtOnce_NotAtItsTimeout()
    {
        using var certs = TestCertificates.Create();
        await using var broker = await BrokerProcess.StartAsync(o => certs.Configure(o, "ssl"));
        var port = await broker.ListenerPortAsync("ssl:external");
        using var silent = new System.Net.Sockets.TcpClient();
        await silent.ConnectAsync(System.Net.IPAddress.Loopback, port, TestContext.Current.CancellationToken);
        using var http = broker.CreateManagementClient();
        // Counted from the accept on, like a tcp connection.
        Assert.Equal(1, await ManagementHttp.CurrentConnectionsAsync(http, "mqtt:ssl:external", expected: 1));

        var stopping = System.Diagnostics.Stopwatch.StartNew();
        using (var stop = await http.PutAsync("api/v4/listeners/mqtt:ssl:external/stop", null, TestContext.Current.CancellationToken))
            Assert.Equal(System.Net.HttpStatusCode.OK, stop.StatusCode);
        var read = await silent.GetStream().ReadAsync(new byte[16], TestContext.Current.CancellationToken).AsTask()
            .WaitAsync(TimeSpan.FromSeconds(30), TestContext.Current.CancellationToken);

        Assert.Equal(0, read);
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(5), $"closed after {stopping.Elapsed} (the handshake timeout is 10 s)");
        Assert.Equal(0, await ManagementHttp.CurrentConnectionsAsync(http, "mqtt:ssl:external", expected: 0));
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
