using Broker.Configuration;
using Microsoft.Extensions.Configuration;
using Xunit;

namespace Broker.Server.Tests.Configuration;

public sealed class BrokerEnvironmentTests : IDisposable
{
    private readonly TempConf _temp = new();

    public void Dispose() => _temp.Dispose();

    [Theory]
    [InlineData("BROKER_LISTENER__TCP__EXTERNAL", "listener.tcp.external")]
    [InlineData("BROKER_MQTT__MAX_PACKET_SIZE", "mqtt.max_packet_size")]
    [InlineData("BROKER_LISTENER__TCP__EXTERNAL__MAX_CONNECTIONS", "listener.tcp.external.max_connections")]
    [InlineData("BROKER_NODE", "node")]
    public void TryGetKey_BrokerVariable_MapsToDottedKey(string variable, string key)
    {
        Assert.True(BrokerEnvironmentConfigurationProvider.TryGetKey(variable, "BROKER_", out var actual));
        Assert.Equal(key, actual);
    }

    [Theory]
    [InlineData("PATH")]
    [InlineData("broker_mqtt__x")]
    [InlineData("BROKER_")]
    [InlineData("BROKER_MQTT__")]
    [InlineData("BROKER_MQTT____X")]
    [InlineData("BROKER_MQTT__A:B")]
    public void TryGetKey_OtherOrMalformedVariable_IsIgnored(string variable)
    {
        Assert.False(BrokerEnvironmentConfigurationProvider.TryGetKey(variable, "BROKER_", out _));
    }

    [Fact]
    public void AddBrokerEnvironment_AfterFile_OverridesFile()
    {
        var path = _temp.Write("listener.tcp.external = 0.0.0.0:1883", "mqtt.max_packet_size = 1MB");

        var configuration = TempConf.Build(path, new Dictionary<string, string>
        {
            ["BROKER_LISTENER__TCP__EXTERNAL"] = "0.0.0.0:1884",
            ["HOME"] = "/root",
        });

        Assert.Equal("0.0.0.0:1884", configuration["listener:tcp:external"]);
        Assert.Equal("1MB", configuration["mqtt:max_packet_size"]);
        Assert.Null(configuration["home"]);
    }

    [Fact]
    public void AddBrokerEnvironment_Value_IsTakenAsIs()
    {
        var configuration = new ConfigurationBuilder()
            .AddBrokerEnvironment(new Dictionary<string, string> { ["BROKER_MQTT__MOUNTPOINT"] = "\"quoted\" " })
            .Build();

        Assert.Equal("\"quoted\" ", configuration["mqtt:mountpoint"]);
    }

    [Fact]
    public void AddBrokerEnvironment_ProcessEnvironment_IsRead()
    {
        var word = "T" + Guid.NewGuid().ToString("N").ToUpperInvariant();
        var variable = $"BROKER_CONFTESTS__{word}__MAX_SIZE";
        Environment.SetEnvironmentVariable(variable, "42");
        try
        {
            var configuration = new ConfigurationBuilder().AddBrokerEnvironment().Build();

            Assert.Equal("42", configuration[$"conftests:{word.ToLowerInvariant()}:max_size"]);
        }
        finally
        {
            Environment.SetEnvironmentVariable(variable, null);
        }
    }
}
