using Broker.Core.Connections;
using Xunit;
using Broker.Configuration;
using Broker.Server.Listeners;
using Broker.Server.Tests.Configuration;

namespace Broker.Server.Tests;

/// <summary>The listener keys: off, rate syntax, TLS rules; every problem named by key.</summary>
public sealed class ListenerOptionsTests
{
    private static ConfigurationException LoadFails(params string[] lines)
    {
        using var temp = new TempConf();
        var etc = Path.GetDirectoryName(temp.Write(lines))!;
        return Assert.Throws<ConfigurationException>(() => BrokerSettings.Load(etc, etc, etc, new Dictionary<string, string>()));
    }

    private static BrokerSettings Load(params string[] lines)
    {
        using var temp = new TempConf();
        var etc = Path.GetDirectoryName(temp.Write(lines))!;
        return BrokerSettings.Load(etc, etc, etc, new Dictionary<string, string>());
    }

    [Fact]
    public void Defaults_AllFourListenersOnTheirEmqxPorts()
    {
        var settings = Load("# nothing");
        Assert.Equal(["0.0.0.0:1883", "0.0.0.0:8883", "0.0.0.0:8083", "0.0.0.0:8084"], settings.MqttListeners.Select(l => l.Bind).ToArray());
        Assert.Equal(["mqtt:tcp:external", "mqtt:ssl:external", "mqtt:ws:external", "mqtt:wss:external"], settings.MqttListeners.Select(l => l.Identifier).ToArray());
        Assert.All(settings.MqttListeners, l => Assert.True(l.Enabled));
        Assert.Equal("/mqtt", settings.Listeners.Ws["external"].Path);
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13, settings.Listeners.Ssl["external"].Protocols);
    }

    [Fact]
    public void NamedListener_MoreOfAKind_EachWithItsOwnKeysAndTheKindsDefaults()
    {
        // EMQX's external/internal pair (issue 18 item 4): one options class serves every listener of a kind.
        var settings = Load(
            "listener.tcp.internal = 127.0.0.1:11883",
            "listener.tcp.internal.max_connections = 10",
            "listener.tcp.internal.rate_limit.conn_messages_in = 100,1s",
            "listener.ssl.internal = 127.0.0.1:18883",
            "listener.ssl.internal.tls_versions = tlsv1.3");

        Assert.Equal(["mqtt:tcp:external", "mqtt:tcp:internal", "mqtt:ssl:external", "mqtt:ssl:internal", "mqtt:ws:external", "mqtt:wss:external"],
            settings.MqttListeners.Select(l => l.Identifier).ToArray());
        var tcp = settings.Listeners.Tcp["internal"];
        Assert.Equal(("127.0.0.1:11883", 10, 1024, "tcp:internal"), (tcp.Bind, tcp.MaxConnections, tcp.Backlog, tcp.Name));
        Assert.Equal(new Broker.Core.Connections.RateLimit(100, TimeSpan.FromSeconds(1)), tcp.MessagesInLimit);
        Assert.Equal(102400, settings.Listeners.Tcp["external"].MaxConnections);
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls13, settings.Listeners.Ssl["internal"].Protocols);
    }

    [Fact]
    public void NamedListener_FromTheEnvironment()
    {
        using var temp = new TempConf();
        var etc = Path.GetDirectoryName(temp.Write("# nothing"))!;
        var settings = BrokerSettings.Load(etc, etc, etc, new Dictionary<string, string> { ["BROKER_LISTENER__WS__INTERNAL"] = "127.0.0.1:18083" });

        Assert.Equal("127.0.0.1:18083", settings.Listeners.Ws["internal"].Bind);
        Assert.Empty(settings.Warnings);
    }

    [Theory]
    [InlineData("listener.tcp.internal.max_conection = 1", "listener.tcp.internal.max_conection", "did you mean listener.tcp.internal.max_connections?")]
    [InlineData("listener.tcp.internal.colour = red", "listener.tcp.internal.colour", "unknown key")]
    [InlineData("listener.tcp.in-ternal = 127.0.0.1:1", "listener.tcp.in-ternal", "a name is letters, digits and '_'")]
    [InlineData("listener.ws.internal.mqtt_path = mqtt", "listener.ws.internal.mqtt_path", "must start with /")]
    [InlineData("listener.ssl.internal.verify = verify_peer", "listener.ssl.internal.cacertfile", "verify_peer needs cacertfile")]
    public void NamedListener_BadKey_NamesTheFullKey(string line, string key, string problem)
    {
        var ex = LoadFails(line);

        Assert.Contains(ex.Errors, e => e.Key == key && e.ToString().Contains(problem, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("off")]
    [InlineData("OFF")]
    [InlineData("\"\"")]
    public void Bind_OffOrEmpty_DisablesTheListener(string value)
    {
        var settings = Load($"listener.ws.external = {value}");
        Assert.False(settings.Listeners.Ws["external"].Enabled);
    }

    [Theory]
    [InlineData("100,1s", 100, 1000)]
    [InlineData("5, 500ms", 5, 500)]
    public void ConnMessagesIn_CountCommaDuration(string value, long count, int milliseconds)
    {
        var settings = Load($"listener.tcp.external.rate_limit.conn_messages_in = {value}");
        Assert.Equal(new Broker.Core.Connections.RateLimit(count, TimeSpan.FromMilliseconds(milliseconds)), settings.Listeners.Tcp["external"].MessagesInLimit);
    }

    [Fact]
    public void ConnBytesIn_TakesSizes()
    {
        var settings = Load("listener.wss.external.rate_limit.conn_bytes_in = 64KB,1s");
        Assert.Equal(new Broker.Core.Connections.RateLimit(65536, TimeSpan.FromSeconds(1)), settings.Listeners.Wss["external"].BytesInLimit);
        Assert.Null(settings.Listeners.Wss["external"].MessagesInLimit);
    }

    [Theory]
    [InlineData("listener.tcp.external.rate_limit.conn_messages_in = 100")]
    [InlineData("listener.tcp.external.rate_limit.conn_messages_in = 0,1s")]
    [InlineData("listener.tcp.external.rate_limit.conn_messages_in = 10,never")]
    [InlineData("listener.tcp.external.rate_limit.conn_messages_in = 1KB,1s")]
    public void ConnMessagesIn_Malformed_IsAnErrorNamingTheKey(string line)
    {
        var ex = LoadFails(line);
        Assert.Equal("listener.tcp.external.rate_limit.conn_messages_in", ex.Key);
        Assert.Equal(1, ex.Line);
    }

    [Fact]
    public void TlsVersions_Tls11_IsRefused()
    {
        var ex = LoadFails("listener.ssl.external.tls_versions = tlsv1.2,tlsv1.1");
        Assert.Equal("listener.ssl.external.tls_versions", ex.Key);
    }

    [Fact]
    public void VerifyPeer_WithoutCacertfile_IsRefused()
    {
        var ex = LoadFails("listener.ssl.external.verify = verify_peer");
        Assert.Equal("listener.ssl.external.cacertfile", ex.Key);
    }

    [Fact]
    public void Certfile_WithoutKeyfile_IsRefused()
    {
        var ex = LoadFails("listener.wss.external.certfile = certs/cert.pem");
        Assert.Equal("listener.wss.external.keyfile", ex.Key);
    }

    [Fact]
    public void WsPath_WithoutSlash_IsRefused()
    {
        var ex = LoadFails("listener.ws.external.mqtt_path = mqtt");
        Assert.Equal("listener.ws.external.mqtt_path", ex.Key);
    }
}
