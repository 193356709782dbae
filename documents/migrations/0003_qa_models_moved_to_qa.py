# Conversation, QaRecord and QaFeedback moved to the qa app. State only: their tables are not
# dropped here; qa/migrations/0001_initial.py takes them into qa's state and renames them.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('documents', '0002_ingestion_lease'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='QaFeedback'),
                migrations.DeleteModel(name='QaRecord'),
                migrations.DeleteModel(name='Conversation'),
            ],
            database_operations=[],
        ),
    ]
