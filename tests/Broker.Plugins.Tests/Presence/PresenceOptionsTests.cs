using Broker.Abstractions;
using Broker.Abstractions.Plugins;
using Broker.Plugins.Presence;

namespace Broker.Plugins.Tests.Presence;

public sealed class PresenceOptionsTests
{
    [Fact]
    public void Bind_Empty_GivesTheDocumentedDefault()
    {
        Assert.Equal(MqttQos.AtLeastOnce, PluginConf.Bind<PresenceOptions>("presence").MessageQos);
    }

    [Fact]
    public void Bind_Qos_IsRead()
    {
        Assert.Equal(MqttQos.AtMostOnce, PluginConf.Bind<PresenceOptions>("presence", "# quiet", "qos = 0").MessageQos);
    }

    [Theory]
    [InlineData("qos = 3", "must be at most 2")]
    [InlineData("qos = high", "expected a whole number")]
    public void Bind_BadValue_NamesFileLineAndKey(string line, string problem)
    {
        var ex = Assert.Throws<PluginConfigurationException>(() => PluginConf.Bind<PresenceOptions>("presence", "# comment", line));
        Assert.StartsWith("presence.conf:2: qos", ex.Message, StringComparison.Ordinal);
        Assert.Contains(problem, ex.Message, StringComparison.Ordinal);
    }
}
