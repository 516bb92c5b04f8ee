using Broker.Abstractions.Plugins;
using Broker.Plugins.DelayedPublish;

namespace Broker.Plugins.Tests.DelayedPublish;

/// <summary>etc/plugins/delayed_publish.conf bound as the host binds it.</summary>
public sealed class DelayedPublishOptionsTests
{
    [Fact]
    public void Defaults_AreEmqxs()
    {
        var options = PluginConf.Bind<DelayedPublishOptions>("delayed_publish");

        Assert.Equal(DelayedStorageType.Disc, options.StorageType);
        Assert.Equal(0, options.MaxDelayedMessages);
        Assert.Equal(4_294_967, options.MaxDelaySeconds);
    }

    [Fact]
    public void Values_Bind()
    {
        var options = PluginConf.Bind<DelayedPublishOptions>("delayed_publish", "storage_type = ram", "max_delayed_messages = 10", "max_delay = 1h");

        Assert.Equal(DelayedStorageType.Ram, options.StorageType);
        Assert.Equal(10, options.MaxDelayedMessages);
        Assert.Equal(3600, options.MaxDelaySeconds);
    }

    [Theory]
    [InlineData("storage_type = mnesia", "storage_type")]
    [InlineData("max_delayed_messages = -1", "max_delayed_messages")]
    [InlineData("max_delay = 4294968s", "max_delay")]
    [InlineData("max_delay = soon", "max_delay")]
    public void BadValue_NamesFileLineAndKey(string line, string key)
    {
        var error = Assert.Throws<PluginConfigurationException>(() => PluginConf.Bind<DelayedPublishOptions>("delayed_publish", line));

        Assert.Contains("delayed_publish.conf:1", error.Message, StringComparison.Ordinal);
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }
}
