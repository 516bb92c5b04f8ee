using Broker.Core.Hosting;
using Xunit;

namespace Broker.Core.Tests.Hosting;

/// <summary>The core's options are its own: a host sees only <see cref="CoreSettings"/>.</summary>
public sealed class CoreSettingsTests
{
    [Fact]
    public void PublicSurface_HasNoOptionsTypes()
    {
        var exported = typeof(CoreSettings).Assembly.GetExportedTypes()
            .Where(t => t.Namespace == "Broker.Core.Configuration" || t.Name.EndsWith("Options", StringComparison.Ordinal))
            .Select(t => t.FullName);

        Assert.Empty(exported);
    }

    [Fact]
    public void Sections_AreTheOptionsTheCoreIsBuiltFrom()
    {
        var settings = new CoreSettings();

        Assert.Same(settings.Node, settings.NodeSection);
        Assert.Same(settings.Mqtt, settings.MqttSection);
        Assert.Same(settings.Session, settings.SessionSection);
        Assert.Same(settings.Access, settings.AccessSection);
        Assert.Same(settings.Persistence, settings.PersistenceSection);
    }

    [Fact]
    public void NameNodeAfterHostIfDefault_NamesOnlyANodeLeftAtTheDefault()
    {
        var left = new CoreSettings();
        var named = new CoreSettings();
        named.Node.NodeName = "edge@10.0.0.1";

        left.NameNodeAfterHostIfDefault("host1");
        named.NameNodeAfterHostIfDefault("host1");

        Assert.Equal(("broker@host1", "edge@10.0.0.1"), (left.NodeName, named.NodeName));
    }

    [Fact]
    public void ValuesForTheHost_ReadTheBoundOptions()
    {
        var settings = new CoreSettings();
        settings.Access.PasswordFile = "/etc/broker/passwd";
        settings.Persistence.Mode = Configuration.PersistenceMode.On;
        settings.Persistence.Sync = Configuration.PersistenceSync.Sync;

        Assert.Equal(("/etc/broker/passwd", "acl.conf", true, "sync", "persistence"),
            (settings.PasswordFile, settings.AclFile, settings.PersistenceEnabled, settings.PersistenceSync, settings.PersistenceDirectory));
    }
}
