import com.rabbitmq.client.AMQP;
import com.rabbitmq.client.Channel;
import com.rabbitmq.client.Connection;
import com.rabbitmq.client.ConnectionFactory;
import com.rabbitmq.client.GetResponse;
import java.nio.charset.StandardCharsets;
import java.util.Date;
import java.util.List;
import java.util.Map;

/**
 * The retry-later pattern as Java applications write it: a wait queue with x-message-ttl whose
 * dead-letter exchange leads back to the work queue, a consumer that rejects, and x-death read the way
 * Spring AMQP reads it (count a Long, time a Date). Then a transactional publish. Prints
 * `DEATH reason count-class time-class count elapsedMs`, `TX rolled-back committed`, `DONE`.
 */
public class RetryLater {
  public static void main(String[] args) throws Exception {
    ConnectionFactory factory = new ConnectionFactory();
    factory.setHost(args[0]);
    factory.setPort(Integer.parseInt(args[1]));
    factory.setUsername(args[2]);
    factory.setPassword(args[3]);
    String s = args[4];
    try (Connection connection = factory.newConnection(); Channel ch = connection.createChannel()) {
      String workX = "work-x-" + s, retryX = "retry-x-" + s, work = "work-" + s, wait = "wait-" + s;
      ch.exchangeDeclare(workX, "direct", true);
      ch.exchangeDeclare(retryX, "direct", true);
      ch.queueDeclare(work, true, false, false, Map.of("x-dead-letter-exchange", retryX, "x-dead-letter-routing-key", "wait"));
      ch.queueDeclare(wait, true, false, false, Map.of("x-message-ttl", 800, "x-dead-letter-exchange", workX, "x-dead-letter-routing-key", "work"));
      ch.queueBind(work, workX, "work");
      ch.queueBind(wait, retryX, "wait");
      long start = System.currentTimeMillis();
      ch.basicPublish(workX, "work", new AMQP.BasicProperties.Builder().messageId("job-1").build(), "job".getBytes(StandardCharsets.UTF_8));
      int rounds = 0;
      while (rounds < 2 && System.currentTimeMillis() - start < 60_000) {
        GetResponse r = ch.basicGet(work, false);
        if (r == null) {
          Thread.sleep(50);
          continue;
        }
        Map<String, Object> headers = r.getProps().getHeaders();
        if (headers != null && headers.get("x-death") != null) {
          @SuppressWarnings("unchecked")
          Map<String, Object> death = ((List<Map<String, Object>>) headers.get("x-death")).get(0);
          Object count = death.get("count");
          Object time = death.get("time");
          System.out.println("DEATH " + death.get("reason") + " " + count.getClass().getSimpleName() + " " + time.getClass().getSimpleName() + " " + ((Long) count) + " " + (System.currentTimeMillis() - start));
          rounds++;
        }
        if (rounds < 2) ch.basicReject(r.getEnvelope().getDeliveryTag(), false);
        else ch.basicAck(r.getEnvelope().getDeliveryTag(), false);
      }
      String txq = "tx-" + s;
      ch.queueDeclare(txq, true, false, false, null);
      ch.txSelect();
      ch.basicPublish("", txq, null, "rolled back".getBytes(StandardCharsets.UTF_8));
      ch.txRollback();
      ch.basicPublish("", txq, null, "committed".getBytes(StandardCharsets.UTF_8));
      ch.txCommit();
      StringBuilder got = new StringBuilder();
      for (int i = 0; i < 100 && got.length() == 0; i++) {
        GetResponse r = ch.basicGet(txq, true);
        if (r != null) got.append(new String(r.getBody(), StandardCharsets.UTF_8));
        else Thread.sleep(50);
      }
      System.out.println("TX " + got);
    }
    System.out.println("DONE");
  }
}
