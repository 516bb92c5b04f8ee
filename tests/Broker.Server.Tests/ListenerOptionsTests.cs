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
        Assert.Equal("/mqtt", settings.WsListener.Path);
        Assert.Equal(System.Security.Authentication.SslProtocols.Tls12 | System.Security.Authentication.SslProtocols.Tls13, settings.SslListener.Protocols);
    }

    [Theory]
    [InlineData("off")]
    [InlineData("OFF")]
    [InlineData("\"\"")]
    public void Bind_OffOrEmpty_DisablesTheListener(string value)
    {
        var settings = Load($"listener.ws.external = {value}");
        Assert.False(settings.WsListener.Enabled);
    }

    [Theory]
    [InlineData("100,1s", 100, 1000)]
    [InlineData("5, 500ms", 5, 500)]
    public void ConnMessagesIn_CountCommaDuration(string value, long count, int milliseconds)
    {
        var settings = Load($"listener.tcp.external.rate_limit.conn_messages_in = {value}");
        Assert.Equal(new Broker.Core.Sessions.RateLimit(count, TimeSpan.FromMilliseconds(milliseconds)), settings.Listener.MessagesInLimit);
    }

    [Fact]
    public void ConnBytesIn_TakesSizes()
    {
        var settings = Load("listener.wss.external.rate_limit.conn_bytes_in = 64KB,1s");
        Assert.Equal(new Broker.Core.Sessions.RateLimit(65536, TimeSpan.FromSeconds(1)), settings.WssListener.BytesInLimit);
        Assert.Null(settings.WssListener.MessagesInLimit);
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
