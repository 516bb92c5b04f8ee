using Broker.Abstractions;
using Broker.Abstractions.Hooks;

namespace Acme.Hello.Tests;

public sealed class AcmeHelloPublishHookTests
{
    private static AcmeHelloPublishHook Hook(string rewritePrefix = "", string propertyName = "greeted-by") =>
        new(new AcmeHelloOptions { RewritePrefix = rewritePrefix, UserPropertyName = propertyName });

    private static MessagePublishContext Publish(string topic, MessageProperties? properties = null) =>
        new() { Message = new BrokerMessage { Topic = topic, Payload = "hi"u8.ToArray(), Properties = properties } };

    [Fact]
    public async Task OnPublishAsync_MatchingTopic_RewritesPrefixAndAddsUserProperty()
    {
        var context = Publish("hello/world");

        var result = await Hook(rewritePrefix: "greetings/").OnPublishAsync(context);

        Assert.Equal(HookResult.Continue, result);
        Assert.Equal("greetings/world", context.Message.Topic);
        Assert.Equal([new MqttUserProperty("greeted-by", "acme_hello")], context.Message.Properties!.UserProperties);
        Assert.True(context.Route);
    }

    [Fact]
    public async Task OnPublishAsync_OtherTopic_LeavesMessageUntouched()
    {
        var context = Publish("other/world");
        var original = context.Message;

        await Hook(rewritePrefix: "greetings/").OnPublishAsync(context);

        Assert.Same(original, context.Message);
    }

    [Fact]
    public async Task OnPublishAsync_NoRewritePrefix_KeepsTopic()
    {
        var context = Publish("hello/world");

        await Hook().OnPublishAsync(context);

        Assert.Equal("hello/world", context.Message.Topic);
        Assert.NotNull(context.Message.Properties);
    }

    [Fact]
    public async Task OnPublishAsync_ExistingProperties_AppendsWithoutChangingTheShared()
    {
        var shared = new MessageProperties { ContentType = "text/plain", UserProperties = [new("a", "1")] };
        var context = Publish("hello/world", shared);

        await Hook().OnPublishAsync(context);

        Assert.Equal([new("a", "1"), new("greeted-by", "acme_hello")], context.Message.Properties!.UserProperties);
        Assert.Equal("text/plain", context.Message.Properties.ContentType);
        Assert.Equal([new MqttUserProperty("a", "1")], shared.UserProperties);
    }

    [Fact]
    public async Task OnPublishAsync_EmptyPropertyName_AddsNoProperty()
    {
        var context = Publish("hello/world");

        await Hook(rewritePrefix: "greetings/", propertyName: "").OnPublishAsync(context);

        Assert.Equal("greetings/world", context.Message.Topic);
        Assert.Null(context.Message.Properties);
    }
}
