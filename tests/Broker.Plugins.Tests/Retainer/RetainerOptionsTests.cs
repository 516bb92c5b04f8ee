using Broker.Abstractions.Plugins;
using Broker.Plugins.Retainer;

namespace Broker.Plugins.Tests.Retainer;

public sealed class RetainerOptionsTests
{
    [Fact]
    public void Defaults_AreEmqxs()
    {
        var options = PluginConf.Bind<RetainerOptions>("retainer");
        Assert.Equal(RetainerStorageType.Ram, options.StorageType);
        Assert.Equal(0, options.MaxRetainedMessages);
        Assert.Equal(1024 * 1024, options.MaxPayloadSize);
        Assert.Equal(TimeSpan.Zero, options.ExpiryInterval);
        Assert.Equal(TimeSpan.FromMinutes(1), options.ClearInterval);
    }

    [Fact]
    public void Bind_ReadsEveryKey()
    {
        var options = PluginConf.Bind<RetainerOptions>("retainer",
            "storage_type = disc", "max_retained_messages = 10", "max_payload_size = 64KB", "expiry_interval = 2h", "msg_clear_interval = 0s");
        Assert.Equal(RetainerStorageType.Disc, options.StorageType);
        Assert.Equal(10, options.MaxRetainedMessages);
        Assert.Equal(64 * 1024, options.MaxPayloadSize);
        Assert.Equal(TimeSpan.FromHours(2), options.ExpiryInterval);
        Assert.Equal(TimeSpan.Zero, options.ClearInterval);
    }

    [Fact]
    public void Bind_BadValues_NameTheKeys()
    {
        var error = Assert.Throws<PluginConfigurationException>(() =>
            PluginConf.Bind<RetainerOptions>("retainer", "storage_type = disc_only", "max_retained_messages = -1"));
        Assert.Contains("storage_type", error.Message, StringComparison.Ordinal);
        Assert.Contains("max_retained_messages", error.Message, StringComparison.Ordinal);
    }
}
