using Broker.Abstractions;
using Broker.Abstractions.Hooks;
using Broker.Abstractions.Plugins;
using Broker.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Acme.Hello.Tests;

public sealed class AcmeHelloPluginTests
{
    [Fact]
    public async Task StartAsync_RegistersOneMessagePublishHookThatActsOnMessages()
    {
        var context = new FakePluginContext(("rewrite_prefix", "greetings/"));
        var plugin = new AcmeHelloPlugin();

        await plugin.StartAsync(context, TestContext.Current.CancellationToken);

        var registration = Assert.Single(context.Registry.Registrations);
        Assert.Same(HookPoints.MessagePublish, registration.Point);
        Assert.Equal(HookPriorities.TopicRewrite, registration.Priority);
        var publish = new MessagePublishContext { Message = new BrokerMessage { Topic = "hello/x" } };
        await ((HookCallback<MessagePublishContext>)registration.Callback)(publish);
        Assert.Equal("greetings/x", publish.Message.Topic);

        await plugin.StopAsync(TestContext.Current.CancellationToken);
    }

    [Fact]
    public async Task StartAsync_InvalidConfiguration_ThrowsAndRegistersNothing()
    {
        var context = new FakePluginContext(("match_prefix", "#"));

        await Assert.ThrowsAsync<PluginConfigurationException>(
            async () => await new AcmeHelloPlugin().StartAsync(context, TestContext.Current.CancellationToken));

        Assert.Empty(context.Registry.Registrations);
    }

    /// <summary>Just enough of the broker for StartAsync: configuration, logging and a registry that records.</summary>
    private sealed class FakePluginContext(params (string Key, string Value)[] settings) : IPluginContext
    {
        public RecordingHookRegistry Registry { get; } = new();

        public string Name => "acme_hello";

        public IConfiguration Configuration { get; } = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build();

        public ILoggerFactory LoggerFactory => NullLoggerFactory.Instance;

        public IHookRegistry Hooks => Registry;

        public TimeProvider TimeProvider => TimeProvider.System;

        public string DataDirectory => Path.GetTempPath();

        public IBrokerServices Broker => throw new NotSupportedException("not used by this plugin");

        public CancellationToken Stopping => CancellationToken.None;

        // As the broker binds: the same binder, without the file and line an in-memory configuration cannot have.
        public T BindOptions<T>() where T : new() => PluginOptions.Bind<T>(Configuration);
    }

    private sealed class RecordingHookRegistry : IHookRegistry
    {
        public List<(HookPoint Point, Delegate Callback, int Priority)> Registrations { get; } = [];

        public IDisposable Register<TContext>(HookPoint<TContext> point, HookCallback<TContext> callback, int priority = HookPriorities.Default)
            where TContext : class
        {
            Registrations.Add((point, callback, priority));
            return new Unregister(() => Registrations.RemoveAll(r => r.Callback == (Delegate)callback));
        }

        private sealed class Unregister(Action action) : IDisposable
        {
            public void Dispose() => action();
        }
    }
}
